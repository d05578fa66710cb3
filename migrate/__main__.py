from migrate import main

# A worker process started by the batch pool imports this module again: it must not run.
if __name__ == "__main__":
    main()
