"""What a user function's parameters receive when verify calls it, by name (lower-cased).

Shared by the parent, which skips functions none of whose parameters play a role (data makers
such as `make_dataset(n, seed)`), and the child, which binds the values. No torch here.
"""

from __future__ import annotations

# Anything else without a default makes the function "not verified", naming the parameter.
MODEL_NAMES = frozenset({"model", "net", "network", "classifier", "clf", "module", "m", "backbone"})
INPUT_NAMES = frozenset(
    {
        "x",
        "xb",
        "inputs",
        "input",
        "images",
        "image",
        "imgs",
        "img",
        "features",
        "feats",
        "data",
        "samples",
        "sample",
        "tokens",
        "token_ids",
        "input_ids",
        "ids",
        "signal",
        "signals",
        "spectrogram",
        "spec",
        "batch_x",
        "x_batch",
        "texts",
        "seq",
        "sequence",
        "audio",
        "waveform",
    }
)
TARGET_NAMES = frozenset(
    {
        "y",
        "yb",
        "target",
        "targets",
        "label",
        "labels",
        "y_true",
        "gt",
        "truth",
        "batch_y",
        "y_batch",
        "tags",
    }
)
OUTPUT_NAMES = frozenset(
    {
        "logits",
        "outputs",
        "output",
        "out",
        "scores",
        "y_pred",
        "y_hat",
        "yhat",
        "pred",
        "preds",
        "predictions",
        "prediction",
        "probs",
        "probabilities",
        "proba",
        "p",
    }
)
BATCH_NAMES = frozenset({"batch", "minibatch", "mini_batch"})
LOADER_NAMES = frozenset(
    {
        "batch_iter",
        "data_iter",
        "train_iter",
        "val_iter",
        "loader",
        "dataloader",
        "data_loader",
        "train_loader",
        "val_loader",
        "valid_loader",
        "test_loader",
        "eval_loader",
        "dl",
        "train_dl",
        "val_dl",
        "test_dl",
        "iterator",
        "batches",
        "dataset",
        "train_data",
        "val_data",
        "test_data",
        "loaders",
    }
)
CRITERION_NAMES = frozenset(
    {
        "criterion",
        "loss_fn",
        "loss_func",
        "loss_function",
        "lossfn",
        "crit",
        "loss_fcn",
        "objective",
        "loss_module",
        "loss_op",
    }
)
OPTIMIZER_NAMES = frozenset({"optimizer", "optimiser", "optim", "opt", "scheduler", "sched"})
ZERO_NAMES = frozenset({"batch_idx", "batch_index", "step", "epoch", "i", "idx", "iteration", "it"})
ONE_NAMES = frozenset(
    {"epochs", "num_epochs", "n_epochs", "steps", "num_steps", "max_steps", "iters"}
)
DEVICE_NAMES = frozenset({"device", "dev"})
CONFIG_NAMES = frozenset(
    {"cfg", "config", "conf", "hparams", "hp", "settings", "params", "opts", "opt_config", "args"}
)
# A parameter with one of these names ties a function to the model, its output or a loss.
ROLE_NAMES = (
    MODEL_NAMES
    | INPUT_NAMES
    | TARGET_NAMES
    | OUTPUT_NAMES
    | BATCH_NAMES
    | LOADER_NAMES
    | CRITERION_NAMES
)
