"""The project graph resolves imports once, the same way for every part of a run."""

from pathlib import Path, PurePosixPath

import pytest

from migrate import pipeline
from migrate.analysis.graph import (
    ProjectGraph,
    absolute_module,
    import_statements,
    module_name_for,
)
from migrate.pipeline import RunOptions


def _graph(files: dict[str, str]) -> ProjectGraph:
    return ProjectGraph({PurePosixPath(path): text for path, text in files.items()})


def _imports(graph: ProjectGraph, path: str) -> set[str]:
    return {str(found) for found in graph.imports_of(PurePosixPath(path))}


@pytest.mark.parametrize(
    ("module", "level", "importer", "is_package", "expected"),
    [
        pytest.param("a", 0, "pkg.mod", False, "a", id="absolute"),
        pytest.param("a", 1, "pkg.mod", False, "pkg.a", id="sibling"),
        pytest.param("", 1, "pkg.mod", False, "pkg", id="own package"),
        pytest.param("a", 2, "pkg.sub.mod", False, "pkg.a", id="two dots"),
        pytest.param("a", 1, "pkg", True, "pkg.a", id="from a package init"),
        pytest.param("a", 2, "pkg.sub", True, "pkg.a", id="two dots from a package init"),
        pytest.param("a", 3, "pkg.mod", False, "", id="above the top package"),
    ],
)
def test_absolute_module(
    module: str, level: int, importer: str, is_package: bool, expected: str
) -> None:
    assert absolute_module(module, level, importer, is_package) == expected


def test_module_names_follow_packages_and_src_layouts() -> None:
    packages = [PurePosixPath("src/pkg"), PurePosixPath("src/pkg/sub")]
    assert module_name_for(PurePosixPath("src/pkg/sub/mod.py"), packages) == "pkg.sub.mod"
    assert module_name_for(PurePosixPath("src/pkg/__init__.py"), packages) == "pkg"
    assert module_name_for(PurePosixPath("scripts/train.py"), packages) == "train"


def test_import_statements_read_parenthesised_continued_and_nested_imports() -> None:
    text = (
        "from pkg import (\n"
        "    models,  # the nets\n"
        "    losses,\n"
        ")\n"
        "import a.b as c, d \\\n"
        "    , e\n"
        "def f():\n"
        "    from .local import thing; x = 1\n"
        "    if x: import lazy\n"
        'DOC = """\n'
        "from the data import nothing\n"
        '"""\n'
    )
    found = [
        (type(node).__name__, getattr(node, "module", None), [a.name for a in node.names])
        for node in import_statements(text)
    ]
    assert found == [
        ("ImportFrom", "pkg", ["models", "losses"]),
        ("Import", None, ["a.b", "d", "e"]),
        ("ImportFrom", "local", ["thing"]),
        ("Import", None, ["lazy"]),
    ]


def test_edges_resolve_relative_reexported_and_multiline_imports() -> None:
    graph = _graph(
        {
            "pkg/__init__.py": "from .models import Net\n",
            "pkg/models.py": "import torch\n",
            "pkg/train.py": "from . import (\n    models,\n)\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/deep.py": "from ..models import Net\nimport pkg.sub\n",
            "main.py": "from pkg import Net\n",
        }
    )
    assert _imports(graph, "pkg/__init__.py") == {"pkg/models.py"}
    assert _imports(graph, "pkg/train.py") == {"pkg/__init__.py", "pkg/models.py"}
    assert _imports(graph, "pkg/sub/deep.py") == {
        "pkg/__init__.py",
        "pkg/models.py",
        "pkg/sub/__init__.py",
    }
    assert _imports(graph, "main.py") == {"pkg/__init__.py"}
    importers = {str(path) for path in graph.importers_of(PurePosixPath("pkg/models.py"))}
    assert importers == {"pkg/__init__.py", "pkg/train.py", "pkg/sub/deep.py"}
    readers = graph.importer_closure({PurePosixPath("pkg/models.py")}, depth=2)
    assert PurePosixPath("main.py") in readers


def test_multiline_import_gives_the_same_finding_whole_and_in_batches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The batched path used to read imports line by line and lost this MC201.
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n\n"
        "    def forward(self, x):\n"
        "        return torch.softmax(self.fc(x), dim=1)\n"
    )
    (tmp_path / "train.py").write_text(
        "import torch.nn.functional as F\n"
        "from pkg import (\n"
        "    models,\n"
        ")\n\n\n"
        "def step(x, y):\n"
        "    return F.cross_entropy(models.Net()(x), y)\n"
    )
    options = RunOptions(paths=[tmp_path])
    whole = [(r.display, f.violation.code) for r, f in pipeline.run(options).findings]
    monkeypatch.setattr(pipeline, "BATCH_BYTES", 0)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 1)
    batched = [(r.display, f.violation.code) for r, f in pipeline.run(options).findings]
    assert [code for _, code in whole] == ["MC201"]
    assert batched == whole
