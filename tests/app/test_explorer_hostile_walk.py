"""Every page with hostile text in every field a user can set (issue 25, item 3): run and
experiment names, parameters, properties, tags, notes, taint reasons, metric names and the
search box. Each value carries Markdown (image, link, bold), a bare URL and an HTML image, all
pointing at a loopback listener. On every page, in headless Chromium: the text is shown, no link
or image is made from it, and the listener sees no request."""

from __future__ import annotations

import urllib.parse

import pytest

import lineage
from explorer_helpers import READY, Beacon, graph_frame, served_browser
from helpers import record_push
from lineage import Input, Lineage, Output, annotate, log_metric, record, run, step
from lineage.types import Dataset, Model, ModelBlessing, ModelEvaluation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def walk_beacon():
    b = Beacon()
    yield b
    b.server.shutdown()


def hostile(beacon: Beacon, field: str) -> str:
    base = f"http://127.0.0.1:{beacon.port}"
    return (f"![i]({base}/{field}.png) **bold-{field}** [link-{field}]({base}/{field}) {base}/bare-{field} "
            f'<img src="{base}/html-{field}.png"> <b>tag-{field}</b>')


@pytest.fixture(scope="module")
def hostile_store(tmp_path_factory, walk_beacon):
    tmp = tmp_path_factory.mktemp("hostile")
    lin = Lineage.open(f"sqlite:///{tmp / 'metadata.sqlite'}", artifact_root=str(tmp / "artifacts"))
    h = lambda field: hostile(walk_beacon, field)   # noqa: E731
    data = tmp / "reviews.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")

    @step(type="Fit")
    def fit(source: Input[Dataset], model: Output[Model], lr: float, label: str):
        log_metric("accuracy", 0.8 + lr)
        log_metric(h("metric"), lr)
        annotate(summary=h("execution-property"))
        model.path.mkdir()
        (model.path / "weights").write_text(str(lr))
        model.properties["comment"] = h("model-property")

    raw = lin.register(Dataset.at(data, comment=h("property")))
    models = {}
    with lineage.use(lin):
        for i, lr in enumerate((0.1, 0.2)):
            with run(pipeline=h("pipeline"), experiment=h("experiment"), name=f"{h('run')} {i}"):
                models[i] = fit(raw, lr=lr, label=h("parameter"))
                ev = record("Evaluate", inputs={"model": models[i]},
                            outputs={"evaluation": ModelEvaluation.at(tmp / f"eval-{i}", accuracy=0.8 + lr),
                                     "blessing": ModelBlessing.at(tmp / f"bless-{i}", blessed=True)})
            record_push(lin, models[i], ev.blessing, i + 1, at=1000.0 + i)
    first = f"{h('run')} 0"
    lin.tag(first, {"stage": h("tag-value")})   # keys are names (letters, digits, _ . -): refused otherwise
    lin.note(first, h("note"))
    lin.note(f"a{raw.id}", h("artifact-note"))
    lin.taint(raw, h("taint-reason"))
    return {"lin": lin, "raw": raw, "model": models[1], "first": first, "second": f"{h('run')} 1",
            "experiment": h("experiment")}


@pytest.fixture(scope="module")
def hostile_ui(hostile_store):
    with served_browser(hostile_store["lin"].uri) as (page, base):
        yield page, base


def _pages(s):
    q = urllib.parse.quote
    raw, model = s["raw"].id, s["model"].id
    return {
        "overview": ("Overview", ""),
        "runs": ("Runs", f"&run={q(s['first'])}"),
        "experiments": ("Experiments", f"&experiment={q(s['experiment'])}"),
        "artifacts": ("Artifacts", f"&artifact={raw}"),
        "data": ("Data", f"&dataset=a{raw}"),
        "graph": ("Lineage graph", f"&node=a{raw}&direction=downstream&hops=4"),
        "provenance": ("What produced this", f"&node=a{model}"),
        "impact": ("What does this affect", f"&node=a{raw}"),
        "serving": ("Serving", "&model=reviews"),
        "compare": ("Compare", f"&a={q(s['first'])}&b={q(s['second'])}"),
    }


def _no_markup_from(page, beacon):
    """No element anywhere (the page and its frames) links to or loads from the listener, and no
    bold element holds stored text."""
    found = []
    for frame in page.frames:
        found += frame.evaluate(
            """(port) => [...document.querySelectorAll('a[href], img[src], [srcset], [style*="url("]')]
                 .map(e => e.outerHTML.slice(0, 200))
                 .filter(h => h.includes('127.0.0.1:' + port))""", beacon.port)
        found += frame.evaluate(
            """() => [...document.querySelectorAll('strong, b')].map(e => e.textContent)
                 .filter(t => t.includes('bold-') || t.includes('tag-'))""")
    return found


def _shown_text(page) -> str:
    return "\n".join(f.evaluate("() => document.body ? document.body.innerText : ''") for f in page.frames)


@pytest.mark.parametrize("name", ["overview", "runs", "experiments", "artifacts", "data", "graph", "provenance",
                                  "impact", "serving", "compare"])
def test_every_page_shows_hostile_text_as_text(hostile_ui, hostile_store, walk_beacon, name):
    page, base = hostile_ui
    title, params = _pages(hostile_store)[name]
    page.goto(f"{base}/?page={name}{params}")
    page.locator("h2", has_text=title).first.wait_for(timeout=120000)
    page.wait_for_function(READY, timeout=120000)
    if name == "graph":
        graph_frame(page)                      # the drawing is on screen, its side panel beside it
    page.wait_for_timeout(1500)                # time for a renderer to fetch, if it were going to
    shown = _shown_text(page)
    if name != "data":       # Data shows statistics only: this dataset has none, and its page says so
        assert "bold-" in shown, f"{name}: no stored text shown\n{shown[:2000]}"
        assert "**bold-" in shown.replace("\u2060", ""), f"{name}: stored text not shown as its characters"
    assert "Traceback" not in shown
    assert _no_markup_from(page, walk_beacon) == [], name
    assert walk_beacon.requests == [], (name, walk_beacon.requests)


def test_search_suggestions_show_hostile_names_as_text(hostile_ui, walk_beacon):
    page, base = hostile_ui
    page.goto(f"{base}/?page=overview")
    page.locator("h2", has_text="Overview").first.wait_for(timeout=120000)
    box = page.get_by_role("textbox", name="Search")
    box.fill("bold-run")
    box.press("Enter")
    page.get_by_text("**bold-run**", exact=False).filter(visible=True).first.wait_for(timeout=60000)
    page.wait_for_function(READY, timeout=60000)
    page.wait_for_timeout(1500)
    assert _no_markup_from(page, walk_beacon) == []
    assert walk_beacon.requests == []
