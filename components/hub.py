"""TF-Hub modules as the talk describes them: reusable, versioned, immutable.

- :func:`build_text_embedding` makes a text-embedding SavedModel that takes whole sentences
  (lower-casing and tokenization happen inside the graph, as TF-Hub text modules do) and returns a
  fixed-size vector: the mean of its tokens' embeddings. It follows TF-Hub's reusable SavedModel
  API (``__call__``, ``variables``, ``trainable_variables``, ``regularization_losses``), so
  ``hub.KerasLayer(path, trainable=True)`` can fine-tune it.
- :func:`publish_module` writes the next version into a local registry laid out as
  ``<hub_root>/<publisher>/<name>/<version>/``. A version, once written, is never overwritten.
  It records a ``PublishModule`` execution reading the source SavedModel.
- :func:`resolve_module` turns a registry handle (``publisher/name/version``), a local path, or a
  tfhub.dev / Kaggle URL into a recorded ``HubModule`` artifact. URLs map to a local cache
  directory laid out as TF-Hub's own cache (``$TFHUB_CACHE_DIR/<sha1 of the URL>``), because this
  machine cannot download; the handle is still recorded as given.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path
from typing import Optional, Sequence, Union

from lineage import Input, Lineage, Output, step
from lineage.api import current_lineage, use
from lineage.errors import InvalidInput, NotFound
from lineage.fingerprint import fingerprint
from lineage.records import Artifact
from lineage.types import HubModule, declare_artifact_type
from lineage.vocab import quote

from lineage.serving.server.tfenv import tf

__all__ = ["build_text_embedding", "publish_module", "resolve_module", "SavedModel", "hub_root_for"]

SavedModel = declare_artifact_type("SavedModel", {}, "A SavedModel directory, e.g. a module before it is published.")

_URL = re.compile(r"^https?://(tfhub\.dev|www\.kaggle\.com|kaggle\.com)/", re.I)


def hub_root_for(lin: Lineage) -> Path:
    """The default module registry: ``<store home>/hub`` (``./.lineage/hub``)."""
    return Path(os.environ.get("LINEAGE_HUB_ROOT") or Path(lin.artifact_root).parent / "hub")


def build_text_embedding(out_dir: Union[str, Path], vocabulary: Sequence[str], dim: int = 16,
                         seed: int = 0) -> Path:
    """Save a sentence-embedding module at ``out_dir`` and return the path.

    Tokens are lower-cased words (``[a-z0-9']+``); unknown words share one out-of-vocabulary
    bucket; the output is the mean token embedding (zeros for an empty sentence).
    """
    TF = tf()
    vocab = list(dict.fromkeys(str(w).lower() for w in vocabulary if str(w).strip()))
    if not vocab:
        raise InvalidInput("a text-embedding module needs a non-empty vocabulary")
    if dim <= 0:
        raise InvalidInput("dim must be positive")

    class TextEmbedding(TF.Module):
        def __init__(self) -> None:
            super().__init__(name="text_embedding")
            init = TF.lookup.KeyValueTensorInitializer(
                TF.constant(vocab), TF.range(len(vocab), dtype=TF.int64))
            self.table = TF.lookup.StaticVocabularyTable(init, num_oov_buckets=1)
            self.embeddings = TF.Variable(
                TF.random.stateless_normal([len(vocab) + 1, dim], seed=[seed, 7]) / (dim ** 0.5),
                name="embeddings")

        @TF.function(input_signature=[TF.TensorSpec([None], TF.string)])
        def __call__(self, sentences):
            text = TF.strings.regex_replace(TF.strings.lower(sentences), r"[^a-z0-9' ]", " ")
            tokens = TF.strings.split(text)
            ids = self.table.lookup(tokens)
            vectors = TF.ragged.map_flat_values(TF.nn.embedding_lookup, self.embeddings, ids)
            summed = TF.reduce_sum(vectors, axis=1)
            count = TF.cast(TF.expand_dims(tokens.row_lengths(), -1), TF.float32)
            return TF.math.divide_no_nan(summed, count)

    module = TextEmbedding()
    wrapper = TF.train.Checkpoint()
    wrapper.module = module
    wrapper.__call__ = module.__call__
    wrapper.variables = [module.embeddings]
    wrapper.trainable_variables = [module.embeddings]
    wrapper.regularization_losses = []
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise InvalidInput(f"{out} is not empty: build a module into a new directory")
    TF.saved_model.save(wrapper, str(out))
    (out / "vocabulary.txt").write_text("\n".join(vocab) + "\n")
    return out


def _registry_dir(hub_root: Path, publisher: str, name: str) -> Path:
    for label, value in (("publisher", publisher), ("name", name)):
        if not value or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", value):
            raise InvalidInput(f"module {label} {value!r} must be letters, digits, '.', '_' or '-'")
    return hub_root / publisher / name


def _recorded(lin: Lineage, publisher: str, name: str) -> dict:
    """``{version: [recorded HubModule artifacts]}`` of ``publisher/name`` in the whole store
    (every machine's publishes: a handle and version names one content across the store)."""
    if not lin.store.has_type("artifact", "HubModule"):
        return {}
    q = (f"type = 'HubModule' AND properties.publisher.string_value = {quote(publisher)} "
         f"AND properties.module_name.string_value = {quote(name)}")
    out: dict = {}
    for a in lin.store.list_artifacts(filter_query=q, limit=None, order_by="id", ascending=True):
        if a.get("version") is not None:
            out.setdefault(int(a.get("version")), []).append(a)
    return out


def _same_content(lin: Lineage, handle: str, path: Path, recorded: list) -> Optional[Artifact]:
    """The recorded artifact of ``handle`` when ``path`` holds its bytes; refused when it holds others."""
    if not recorded:
        return None
    digest = fingerprint(path).digest
    for a in recorded:
        if a.fingerprint == digest:
            return a
    first = recorded[0]
    raise InvalidInput(
        f"module {handle} here ({path}) is not the module {handle} recorded in {lin.uri} (a{first.id}, "
        f"{first.fingerprint}, at {first.uri}): a handle and version name one content across the store; "
        f"publish the change as a new version")


def _versions(directory: Path) -> list:
    if not directory.is_dir():
        return []
    return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())


@step(type="PublishModule", rerun=False)   # a rerun uses the module it published
def _publish(source: Input[SavedModel], module: Output[HubModule], publisher: str, name: str,
             version: int, hub_root: str):
    dest = _registry_dir(Path(hub_root), publisher, name) / str(version)
    if not (Path(source.uri) / "saved_model.pb").exists():
        raise InvalidInput(f"{source.uri} is not a SavedModel directory (no saved_model.pb)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.parent / f".{version}.incoming"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(source.uri, tmp)
    try:
        os.rename(tmp, dest)  # fails if the version exists: versions are immutable
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InvalidInput(
            f"module {publisher}/{name} version {version} already exists at {dest}: published "
            f"versions are immutable; publish the change as a new version") from None
    module.uri = str(dest)
    module.properties.update(handle=f"{publisher}/{name}/{version}", publisher=publisher,
                             module_name=name, version=version)


def publish_module(saved_model_dir: Union[str, Path], *, publisher: str, name: str,
                   version: Optional[int] = None, hub_root: Union[str, Path, None] = None,
                   store: Optional[Lineage] = None) -> Artifact:
    """Publish a SavedModel as the next version (or ``version``) of ``publisher/name``.

    Returns the recorded ``HubModule``. An existing version is refused, never overwritten.
    """
    lin = store or current_lineage()
    root = Path(hub_root) if hub_root else hub_root_for(lin)
    existing = _versions(_registry_dir(root, publisher, name))
    recorded = _recorded(lin, publisher, name)
    taken = sorted(set(existing) | set(recorded))
    if version is not None and version in recorded and version not in existing:
        # published from another machine: the same bytes are that module (reused), others refused
        same = _same_content(lin, f"{publisher}/{name}/{version}", Path(saved_model_dir), recorded[version])
        if same is not None:   # this machine's registry gets the same files, so handles resolve here too
            dest = _registry_dir(root, publisher, name) / str(version)
            tmp = dest.parent / f".{version}.incoming"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(saved_model_dir, tmp)
            os.rename(tmp, dest)
            return same
    if version is None:
        version = (taken[-1] + 1) if taken else 1
    elif version in taken:
        raise InvalidInput(
            f"module {publisher}/{name} version {version} already exists in {root if version in existing else lin.uri}: "
            f"published versions are immutable; publish the change as version {taken[-1] + 1}")
    if int(version) < 1:
        raise InvalidInput("module versions start at 1")
    with use(lin):
        return _publish(SavedModel.at(saved_model_dir), publisher=publisher, name=name,
                        version=int(version), hub_root=str(root.absolute()))


def resolve_module(handle: Union[str, Path], *, hub_root: Union[str, Path, None] = None,
                   cache_dir: Union[str, Path, None] = None, store: Optional[Lineage] = None) -> Artifact:
    """A recorded ``HubModule`` for a registry handle, a local path or a tfhub.dev/Kaggle URL.

    ``publisher/name`` without a version resolves to the newest version. A module published
    with :func:`publish_module` resolves to the very artifact the publish recorded.
    """
    lin = store or current_lineage()
    text = str(handle).strip()
    props = {"handle": text}
    if _URL.match(text):
        cache = Path(cache_dir or os.environ.get("TFHUB_CACHE_DIR") or Path(lin.artifact_root).parent / "tfhub_cache")
        path = cache / hashlib.sha1(text.encode()).hexdigest()
        if not (path / "saved_model.pb").exists():
            raise NotFound(
                f"{text} is not in the local module cache and this machine cannot download it: "
                f"place the module's SavedModel at {path} (TF-Hub's cache layout), or set "
                f"TFHUB_CACHE_DIR to a cache that has it")
        parts = [p for p in re.sub(_URL, "", text).split("/") if p]
        props.update(publisher=parts[0] if parts else "", module_name="/".join(parts[1:-1]) or "",
                     version=int(parts[-1]) if parts and parts[-1].isdigit() else None)
    elif Path(text).expanduser().is_dir():
        path = Path(text).expanduser().absolute()
    else:
        root = Path(hub_root) if hub_root else hub_root_for(lin)
        parts = text.split("/")
        if len(parts) not in (2, 3):
            raise InvalidInput(
                f"{text!r} is not a module handle: use publisher/name[/version], a local path, or a "
                f"https://tfhub.dev/... URL")
        directory = _registry_dir(root, parts[0], parts[1])
        versions = _versions(directory)
        if len(parts) == 3:
            if not parts[2].isdigit() or int(parts[2]) not in versions:
                raise NotFound(f"module {text} is not published in {root} "
                               f"(versions there: {versions or 'none'})")
            version = int(parts[2])
        elif versions:
            version = versions[-1]
        else:
            raise NotFound(f"no versions of {text} are published in {root}")
        path = directory / str(version)
        props.update(handle=f"{parts[0]}/{parts[1]}/{version}", publisher=parts[0],
                     module_name=parts[1], version=version)
        same = _same_content(lin, props["handle"], path, _recorded(lin, parts[0], parts[1]).get(version, []))
        if same is not None:
            return same   # the very artifact its publish recorded, whichever machine it was
    if not (path / "saved_model.pb").exists():
        raise InvalidInput(f"{path} is not a SavedModel directory (no saved_model.pb)")
    props = {k: v for k, v in props.items() if v is not None}
    return lin.register(HubModule.at(path, **props))
