import pytest

from migrate.testing import ExampleCase, example_cases, run_example

CASES = example_cases()


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule_example(case: ExampleCase) -> None:
    run_example(case)
