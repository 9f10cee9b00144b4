"""Run-time shims that let an unmodified Hugging Face `transformers` source tree
(v5 dev, which wants torch>=2.2, huggingface_hub, safetensors) import and run on
Debian's torch 1.13 (CPU) with no PyPI access.

Nothing here is copied from transformers; every shim is listed in SHIMS_APPLIED
so that the generator can record it in its outputs.

Usage:  import refshim; refshim.install("/path/to/transformers/src")
"""

import importlib.abc
import importlib.machinery
import importlib.metadata
import math
import os
import sys
import types

import torch
import torch.nn.functional as F

SHIMS_APPLIED = []


def _note(msg):
    if msg not in SHIMS_APPLIED:
        SHIMS_APPLIED.append(msg)


# --------------------------------------------------------------------------------------
# 1. Permissive stub packages for hub/network libraries we never call at run time.
# --------------------------------------------------------------------------------------
class _StubMeta(type):
    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stub_class(f"{cls.__qualname__}.{name}")

    def __iter__(cls):
        return iter(())


def _stub_class(qualname):
    # An Exception subclass so that `except StubError:` and subclassing both work;
    # calling it just builds a (truthy) instance.
    return _StubMeta(qualname.rsplit(".", 1)[-1], (Exception,), {"__qualname__": qualname})


class _StubModule(types.ModuleType):
    _overrides = {}

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        full = f"{self.__name__}.{name}"
        if full in _StubModule._overrides:
            val = _StubModule._overrides[full]
        elif name in _STUB_SUBMODULES:
            val = importlib.import_module(full)
        else:
            val = _stub_class(full)
        setattr(self, name, val)
        return val


_HF_HOME = os.path.join(os.environ.get("REFGEN_HF_HOME", os.path.join(__import__("tempfile").gettempdir(), "refgen_hf_home")))
_StubModule._overrides.update(
    {
        "huggingface_hub.__version__": "1.2.1",
        "huggingface_hub.is_offline_mode": lambda: True,
        "huggingface_hub.utils.are_progress_bars_disabled": lambda *a, **k: True,
        "huggingface_hub.utils.disable_progress_bars": lambda *a, **k: None,
        "huggingface_hub.utils.enable_progress_bars": lambda *a, **k: None,
        "huggingface_hub.utils.is_offline_mode": lambda: True,
        "huggingface_hub.constants.HF_HOME": _HF_HOME,
        "huggingface_hub.constants.HF_HUB_CACHE": os.path.join(_HF_HOME, "hub"),
        "huggingface_hub.constants.HUGGINGFACE_HUB_CACHE": os.path.join(_HF_HOME, "hub"),
        "huggingface_hub.constants.HF_HUB_OFFLINE": True,
        "huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY": True,
        "huggingface_hub.constants.ENDPOINT": "http://127.0.0.1:9",
        "huggingface_hub.constants.HUGGINGFACE_CO_RESOLVE_ENDPOINT": "http://127.0.0.1:9",
        "huggingface_hub.constants.HF_HUB_ENABLE_HF_TRANSFER": False,
        "huggingface_hub.file_download.REGEX_COMMIT_HASH": __import__("re").compile(r"^[0-9a-f]{40}$"),
        "huggingface_hub.dataclasses.validate_typed_dict": lambda *a, **k: None,
    }
)

def _split_torch_state_dict_into_shards(state_dict, *, filename_pattern="model{suffix}.safetensors", max_shard_size=None, **kw):
    # Never shards: everything goes to one file (enough for reference checkpoints).
    fname = filename_pattern.format(suffix="")
    names = list(state_dict.keys())
    return types.SimpleNamespace(
        is_sharded=False,
        metadata={},
        filename_to_tensors={fname: names},
        tensor_to_filename={n: fname for n in names},
    )


_StubModule._overrides["huggingface_hub.split_torch_state_dict_into_shards"] = _split_torch_state_dict_into_shards

_STUB_ROOTS = {"huggingface_hub": "1.2.1", "tokenizers": "0.22.0"}
_STUB_SUBMODULES = {"models", "decoders", "normalizers", "pre_tokenizers", "processors", "trainers", "constants", "utils", "errors", "file_download", "dataclasses", "hf_api", "repocard"}


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        root = fullname.split(".")[0]
        if root in _STUB_ROOTS:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        m = _StubModule(spec.name)
        m.__path__ = []
        m.__version__ = _STUB_ROOTS[spec.name.split(".")[0]]
        return m

    def exec_module(self, module):
        _note(f"stub module (permissive, offline) for {module.__name__}")


# A tiny real `safetensors` package backed by our own st_io (save_file/load_file/safe_open).
def _make_safetensors_pkg():
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import st_io

    pkg = types.ModuleType("safetensors")
    pkg.__path__ = []
    pkg.__version__ = "0.4.3"
    pkg.__spec__ = importlib.machinery.ModuleSpec("safetensors", None, is_package=True)

    class safe_open:  # noqa: N801
        def __init__(self, filename, framework="pt", device="cpu"):
            self._t = st_io.load_file(filename, device=device)
            self._m = st_io.metadata(filename)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

        def keys(self):
            return list(self._t.keys())

        def metadata(self):
            return self._m

        def get_tensor(self, k):
            return self._t[k]

        def get_slice(self, k):
            return _Slice(self._t[k])

    class _Slice:  # the parts of safetensors' PySafeSlice that transformers uses
        def __init__(self, t):
            self._t = t

        def get_dtype(self):
            return st_io._TORCH_TO_ST[self._t.dtype]

        def get_shape(self):
            return list(self._t.shape)

        def __getitem__(self, idx):
            return self._t[idx]

    pkg.safe_open = safe_open
    pkg.SafetensorError = type("SafetensorError", (Exception,), {})
    tm = types.ModuleType("safetensors.torch")
    tm.__spec__ = importlib.machinery.ModuleSpec("safetensors.torch", None)
    tm.save_file = lambda tensors, filename, metadata=None: st_io.save_file(tensors, filename, metadata)
    tm.load_file = lambda filename, device="cpu": st_io.load_file(filename, device)
    tm.safe_open = safe_open
    tm.storage_ptr = lambda t: t.untyped_storage().data_ptr() if hasattr(t, "untyped_storage") else t.storage().data_ptr()
    tm.storage_size = lambda t: t.storage().nbytes() if hasattr(t.storage(), "nbytes") else t.storage().size() * t.element_size()
    pkg.torch = tm
    sys.modules["safetensors"] = pkg
    sys.modules["safetensors.torch"] = tm
    _note("safetensors replaced by own minimal implementation (st_io.py)")


# --------------------------------------------------------------------------------------
# 2. Version metadata for the stubbed distributions (transformers checks them at import).
# --------------------------------------------------------------------------------------
_FAKE_DIST_VERSIONS = {
    "huggingface-hub": "1.2.1",
    "huggingface_hub": "1.2.1",
    "safetensors": "0.4.3",
    "tokenizers": "0.22.0",
}


def _patch_metadata():
    orig = importlib.metadata.version

    def version(name):
        if name in _FAKE_DIST_VERSIONS:
            return _FAKE_DIST_VERSIONS[name]
        return orig(name)

    importlib.metadata.version = version
    _note("importlib.metadata.version reports huggingface-hub 1.2.1 / safetensors 0.4.3 / tokenizers 0.22.0 for the stubs")


# --------------------------------------------------------------------------------------
# 3. Post-exec hooks: patch a transformers module right after its body ran, before any
#    other module can `from ... import` names out of it.
# --------------------------------------------------------------------------------------
_POST_EXEC = {}


def _post_exec(modname):
    def deco(fn):
        _POST_EXEC[modname] = fn
        return fn

    return deco


class _PostExecFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname not in _POST_EXEC:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        orig_exec = loader.exec_module
        hook = _POST_EXEC[fullname]

        def exec_module(module):
            orig_exec(module)
            hook(module)

        loader.exec_module = exec_module
        return spec


@_post_exec("transformers.utils.import_utils")
def _patch_import_utils(m):
    # transformers v5 disables torch below 2.2; accept the installed 1.13 but keep
    # `is_torch_greater_or_equal(...)` truthful so version-gated code takes old-torch paths.
    def is_torch_available():
        return importlib.util.find_spec("torch") is not None

    orig = m.is_torch_available
    m.is_torch_available = is_torch_available
    for key, (fn, msg) in list(m.BACKENDS_MAPPING.items()):
        if fn is orig:
            m.BACKENDS_MAPPING[key] = (is_torch_available, msg)
    _note("transformers.utils.import_utils.is_torch_available -> True for torch 1.13 (version gates stay truthful)")


class DeviceMode(torch.overrides.TorchFunctionMode):
    """torch>=2.0 `with torch.device(...)` semantics for torch 1.13: factory functions
    called without an explicit device allocate on `device` (e.g. "meta")."""

    _CTORS = None

    def __init__(self, device):
        super().__init__()
        self.device = torch.device(device)
        if DeviceMode._CTORS is None:
            names = ("empty", "zeros", "ones", "full", "rand", "randn", "randint", "randperm", "arange", "range",
                     "linspace", "logspace", "eye", "tensor", "as_tensor", "scalar_tensor", "empty_strided",
                     "sparse_coo_tensor", "zeros_like", "ones_like", "empty_like", "full_like", "rand_like",
                     "randn_like", "tril_indices", "triu_indices", "hann_window", "bartlett_window",
                     "blackman_window", "hamming_window", "kaiser_window")
            DeviceMode._CTORS = {getattr(torch, n) for n in names if hasattr(torch, n)}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in DeviceMode._CTORS and kwargs.get("device") is None and not func.__name__.endswith("_like"):
            kwargs["device"] = self.device
        if func in (torch.repeat_interleave, torch.Tensor.repeat_interleave) and args and args[0].is_meta:
            return _meta_repeat_interleave(*args, **kwargs)
        return func(*args, **kwargs)


def _meta_repeat_interleave(x, repeats, dim=None, output_size=None):
    # torch 1.13 has no meta kernel for repeat_interleave(int); same result shape via expand.
    if not isinstance(repeats, int):
        raise NotImplementedError("refshim: meta repeat_interleave only for int repeats")
    if dim is None:
        x, dim = x.reshape(-1), 0
    dim = dim % x.dim()
    shape = list(x.shape)
    y = x.unsqueeze(dim + 1).expand(*shape[: dim + 1], repeats, *shape[dim + 1 :])
    shape[dim] *= repeats
    return y.reshape(shape)


@_post_exec("transformers.modeling_utils")
def _patch_modeling_utils(m):
    orig = m.PreTrainedModel.get_init_context.__func__

    def get_init_context(cls, *args, **kwargs):
        ctxs = orig(cls, *args, **kwargs)
        return [DeviceMode(c) if isinstance(c, torch.device) else c for c in ctxs]

    m.PreTrainedModel.get_init_context = classmethod(get_init_context)
    _note("PreTrainedModel.get_init_context: `torch.device(...)` context replaced by a TorchFunctionMode (DeviceMode)")


@_post_exec("transformers.models.sam3_tracker_video.modeling_sam3_tracker_video")
def _patch_sam3_tracker_video(m):
    # Object pointers come out of the SAM head as (batch, 1, C).  _process_object_pointers stacks them and only
    # reshapes them to (tokens, batch, mem_dim) on its split path (hidden > mem_dim, e.g. 256 > 64 released);
    # with hidden == mem_dim (the 64-wide tiny config; the memory cross-attention hard-codes a 64-wide memory)
    # the stack stays 4-D and torch.cat with the 3-D spatial memories fails in any torch version.  Flattening
    # each pointer to (batch, C) first is exactly what the split path does with num_splits = 1, and a no-op for
    # the released configuration.
    cls = m.Sam3TrackerVideoModel
    orig = cls._process_object_pointers

    def _process_object_pointers(self, temporal_offsets, pointer_tokens, max_object_pointers_to_use, batch_size,
                                 num_channels, device):
        pointer_tokens = [t.reshape(batch_size, num_channels) for t in pointer_tokens]
        return orig(self, temporal_offsets, pointer_tokens, max_object_pointers_to_use, batch_size, num_channels,
                    device)

    cls._process_object_pointers = _process_object_pointers
    _note("Sam3TrackerVideoModel._process_object_pointers: each object pointer reshaped (batch,1,C)->(batch,C) "
          "before stacking (= the hidden>mem_dim split path with num_splits=1; no-op for the released 256/64 "
          "config; without it hidden==mem_dim configs fail in torch.cat, in any torch version)")


@_post_exec("transformers.models.sam2_video.modeling_sam2_video")
def _patch_sam2_video(m):
    # Same defect as Sam3TrackerVideoModel (above): object pointers are (batch, 1, C); with hidden == mem_dim (64,
    # forced for small configs: Sam2VideoMemoryAttentionLayer hard-codes kv_in_dim=64, so mem_dim is 64 and the
    # tracker width a multiple of 64) the stacked pointers stay 4-D and torch.cat with the 3-D spatial memories fails
    # in any torch version.  Flattening each pointer to (batch, C) is what the split path (hidden > mem_dim, released
    # 256/64) does with num_splits = 1; a no-op there.
    cls = m.Sam2VideoModel
    orig = cls._process_object_pointers

    def _process_object_pointers(self, temporal_offsets, pointer_tokens, max_object_pointers_to_use, batch_size,
                                 num_channels, device):
        pointer_tokens = [t.reshape(batch_size, num_channels) for t in pointer_tokens]
        return orig(self, temporal_offsets, pointer_tokens, max_object_pointers_to_use, batch_size, num_channels,
                    device)

    cls._process_object_pointers = _process_object_pointers
    _note("Sam2VideoModel._process_object_pointers: each object pointer reshaped (batch,1,C)->(batch,C) before "
          "stacking (= the hidden>mem_dim split path with num_splits=1; no-op for the released 256/64 config; without "
          "it hidden==mem_dim configs fail in torch.cat, in any torch version)")


# --------------------------------------------------------------------------------------
# 4. torch 2.x APIs missing from torch 1.13, added as faithful eager equivalents.
# --------------------------------------------------------------------------------------
def _sdpa_eager(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    L, S = query.size(-2), key.size(-2)
    scale_factor = 1.0 / math.sqrt(query.size(-1)) if scale is None else scale
    if enable_gqa and key.size(-3) != query.size(-3):
        rep = query.size(-3) // key.size(-3)
        key = key.repeat_interleave(rep, dim=-3)
        value = value.repeat_interleave(rep, dim=-3)
    attn = torch.matmul(query, key.transpose(-2, -1)) * scale_factor
    if is_causal:
        causal = torch.ones(L, S, dtype=torch.bool, device=query.device).tril()
        attn = attn.masked_fill(~causal, float("-inf"))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            attn = attn.masked_fill(~attn_mask, float("-inf"))
        else:
            attn = attn + attn_mask
    attn = torch.softmax(attn, dim=-1)
    if dropout_p > 0.0:
        attn = torch.dropout(attn, dropout_p, train=True)
    return torch.matmul(attn, value)


class _MissingDtype:
    """Stands in for a torch dtype that torch 1.13 lacks; no tensor ever has it."""

    is_floating_point = False
    itemsize = 1

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"torch.{self.name}(missing)"


def _missing_torch_module(name, attrs, note):
    try:
        __import__(name)
        return
    except ImportError:
        pass
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    mod.__path__ = []
    for k, v in attrs.items():
        setattr(mod, k, v)
    sys.modules[name] = mod
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, mod)
    _note(note)


def _patch_module_named_members():
    import inspect

    nn = torch.nn
    for attr, store in (("named_parameters", "_parameters"), ("named_buffers", "_buffers")):
        orig = getattr(nn.Module, attr)
        if "remove_duplicate" in inspect.signature(orig).parameters:
            continue

        def _mk(orig, store):
            def named(self, prefix="", recurse=True, remove_duplicate=True):
                if remove_duplicate:
                    yield from orig(self, prefix=prefix, recurse=recurse)
                    return
                mods = self.named_modules(prefix=prefix, remove_duplicate=False) if recurse else [(prefix, self)]
                for mod_prefix, mod in mods:
                    for k, v in getattr(mod, store).items():
                        if v is None:
                            continue
                        yield (mod_prefix + ("." if mod_prefix else "") + k, v)

            named.__name__ = orig.__name__
            return named

        setattr(nn.Module, attr, _mk(orig, store))
        _note(f"torch.nn.Module.{attr} accepts remove_duplicate (torch>=2.0 signature)")


def _patch_torch():
    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = _sdpa_eager
        _note("torch.nn.functional.scaled_dot_product_attention = eager math implementation")
    if not hasattr(torch, "compiler"):
        comp = types.ModuleType("torch.compiler")
        comp.is_compiling = lambda: False
        comp.is_dynamo_compiling = lambda: False
        comp.disable = lambda fn=None, recursive=True: (fn if fn is not None else (lambda f: f))
        torch.compiler = comp
        sys.modules["torch.compiler"] = comp
        _note("torch.compiler stub (is_compiling -> False, disable -> identity)")
    _missing_torch_module(
        "torch.distributed.tensor",
        {n: type(n, (), {}) for n in ("DTensor", "Placement", "Replicate", "Shard", "Partial")},
        "torch.distributed.tensor stub (DTensor & co. as empty classes: no tensor is ever a DTensor)",
    )
    import torch.utils._pytree as pytree

    if not hasattr(pytree, "register_pytree_node"):

        def register_pytree_node(cls, flatten_fn, unflatten_fn, *, serialized_type_name=None, **kw):
            return pytree._register_pytree_node(cls, flatten_fn, unflatten_fn)

        pytree.register_pytree_node = register_pytree_node
        _note("torch.utils._pytree.register_pytree_node -> _register_pytree_node")
    for cm_name in ("no_grad", "enable_grad"):
        orig_cm = getattr(torch, cm_name)
        if getattr(orig_cm, "_refshim", False):
            continue

        def _make(orig_cm):
            class _BareDecoratorCM(orig_cm):
                _refshim = True

                def __new__(cls, orig_func=None):
                    if orig_func is None:
                        return super().__new__(cls)
                    return orig_cm()(orig_func)  # bare `@torch.no_grad` usage (torch>=2.0 style)

                def __init__(self, orig_func=None):
                    super().__init__()

            _BareDecoratorCM.__name__ = orig_cm.__name__
            return _BareDecoratorCM

        setattr(torch, cm_name, _make(orig_cm))
        _note(f"torch.{cm_name} accepts bare-decorator use (@torch.{cm_name} without parentheses)")
    if not hasattr(torch, "_dynamo"):
        try:
            importlib.import_module("torch._dynamo")
        except ImportError:
            dyn = types.ModuleType("torch._dynamo")
            dyn.__spec__ = importlib.machinery.ModuleSpec("torch._dynamo", None, is_package=True)
            dyn.__path__ = []
            dyn.allow_in_graph = lambda fn: fn
            dyn.disable = lambda fn=None, recursive=True: (fn if fn is not None else (lambda f: f))
            dyn.mark_static_address = lambda *a, **k: None
            dyn.reset = lambda: None
            dyn.is_compiling = lambda: False
            dyn.config = types.SimpleNamespace(cache_size_limit=8, capture_scalar_outputs=False)
            exc = types.ModuleType("torch._dynamo.exc")
            exc.Unsupported = type("Unsupported", (Exception,), {})
            dyn.exc = exc
            torch._dynamo = dyn
            sys.modules["torch._dynamo"] = dyn
            sys.modules["torch._dynamo.exc"] = exc
            _note("torch._dynamo stub (allow_in_graph/disable identity, mark_static_address/reset no-ops)")
    missing = []
    for dt in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
               "float4_e2m1fn_x2", "uint16", "uint32", "uint64"):
        if not hasattr(torch, dt):
            setattr(torch, dt, _MissingDtype(dt))
            missing.append(dt)
    if missing:
        _note("placeholder objects for dtypes absent in torch 1.13 (used only as dict keys/values): " + ",".join(missing))
    import inspect

    import torch.nn.init as nninit

    wrapped = []
    for fname in ("uniform_", "normal_", "trunc_normal_", "xavier_uniform_", "xavier_normal_",
                  "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_"):
        fn = getattr(nninit, fname, None)
        if fn is None or "generator" in inspect.signature(fn).parameters:
            continue

        def _mk(fn):
            def wrapper(*args, generator=None, **kwargs):
                if generator is not None:
                    raise NotImplementedError("refshim: torch 1.13 nn.init has no generator argument")
                return fn(*args, **kwargs)

            wrapper.__name__ = fn.__name__
            wrapper.__wrapped__ = fn
            return wrapper

        setattr(nninit, fname, _mk(fn))
        wrapped.append(fname)
    if wrapped:
        _note("torch.nn.init.{" + ",".join(wrapped) + "} accept generator=None (torch>=2.1 signature)")
    _patch_module_named_members()
    try:
        torch.zeros(1, 1).any(dim=(0, 1))
    except TypeError:
        # torch < 2.2: any/all take a single int dim; reduce a tuple of dims one at a time (same result)
        for name in ("any", "all"):
            orig_m, orig_f = getattr(torch.Tensor, name), getattr(torch, name)

            def _mk(orig):
                def reduce(self, dim=None, keepdim=False, **kw):
                    if isinstance(dim, (tuple, list)):
                        out = self
                        for d in sorted((d % self.dim() for d in dim), reverse=True):
                            out = orig(out, d, keepdim)
                        return out
                    if dim is None:
                        return orig(self, **kw)
                    return orig(self, dim, keepdim, **kw)

                return reduce

            setattr(torch.Tensor, name, _mk(orig_m))
            setattr(torch, name, _mk(orig_f))
        _note("torch.any / torch.all (function and Tensor method) accept a tuple of dims (torch>=2.2), reduced "
              "one dim at a time")
    if not torch.cuda.is_available() and not getattr(torch.Tensor.pin_memory, "_refshim", False):
        # transformers' SAM3 video post-processing calls .pin_memory() before a .to(device); on a CPU-only
        # machine torch 1.13 raises there.  Pinning never changes values: return the tensor itself.
        def pin_memory(self, device=None):
            return self

        pin_memory._refshim = True
        torch.Tensor.pin_memory = pin_memory
        _note("torch.Tensor.pin_memory -> identity (CPU-only torch 1.13 raises; pinning never changes values)")
    if not hasattr(torch, "get_default_device"):
        torch.get_default_device = lambda: torch.device("cpu")
        _note("torch.get_default_device -> cpu")


def _patch_torchvision():
    try:
        from torchvision.transforms import InterpolationMode as IM
    except ImportError:
        return
    if "NEAREST_EXACT" not in IM.__members__:
        # torchvision 0.14 lacks this member; its resize() forwards `.value` to
        # torch.nn.functional.interpolate, which in torch 1.13 supports "nearest-exact".
        obj = object.__new__(IM)
        obj._value_ = "nearest-exact"
        obj._name_ = "NEAREST_EXACT"
        obj.__objclass__ = IM
        IM._member_map_["NEAREST_EXACT"] = obj
        IM._value2member_map_["nearest-exact"] = obj
        IM._member_names_.append("NEAREST_EXACT")
        _note("torchvision.transforms.InterpolationMode.NEAREST_EXACT added (value 'nearest-exact')")


def _patch_torchvision_v2():
    try:
        importlib.import_module("torchvision.transforms.v2")
        return
    except ImportError:
        pass
    import torchvision.transforms as T
    import torchvision.transforms.functional as TF

    # A separate module object holding the v1 tensor functions (the v1 module itself stays untouched),
    # plus the few v2 behaviours transformers relies on.
    fmod = types.ModuleType("torchvision.transforms.v2.functional")
    fmod.__dict__.update({k: v for k, v in vars(TF).items() if not k.startswith("__")})
    fmod.__spec__ = importlib.machinery.ModuleSpec("torchvision.transforms.v2.functional", None)
    v2 = types.ModuleType("torchvision.transforms.v2")
    v2.__spec__ = importlib.machinery.ModuleSpec("torchvision.transforms.v2", None, is_package=True)
    v2.__path__ = []
    v2.functional = fmod
    v2.InterpolationMode = T.InterpolationMode
    sys.modules["torchvision.transforms.v2"] = v2
    sys.modules["torchvision.transforms.v2.functional"] = fmod
    T.v2 = v2
    _note("torchvision.transforms.v2.functional = copy of the v1 torchvision.transforms.functional namespace (tensor "
          "ops: resize/normalize/pad/crop); uint8 antialiased resize may differ by rounding from torchvision>=0.17")

    def grayscale_to_rgb(inpt):
        # v2 semantics: 1 channel repeated to 3, >=3 channels returned unchanged
        if inpt.shape[-3] >= 3:
            return inpt
        return inpt.repeat(*([1] * (inpt.dim() - 3)), 3, 1, 1)

    fmod.grayscale_to_rgb = grayscale_to_rgb
    _note("torchvision.transforms.v2.functional.grayscale_to_rgb added (1 channel repeated to 3, >=3 unchanged)")

    v1_resize = TF.resize

    def resize(inpt, size, interpolation=T.InterpolationMode.BILINEAR, max_size=None, antialias=None):
        # v2 accepts any number of leading dims (..., C, H, W); v1 at most 4-D: fold them into the batch dim
        if isinstance(inpt, torch.Tensor) and inpt.dim() > 4:
            lead = inpt.shape[:-3]
            out = v1_resize(inpt.reshape(-1, *inpt.shape[-3:]), size, interpolation, max_size, antialias)
            return out.reshape(*lead, *out.shape[-3:])
        return v1_resize(inpt, size, interpolation, max_size, antialias)

    fmod.resize = resize
    _note("torchvision.transforms.v2.functional.resize folds >4-D (video) tensors into the batch dim around the v1 resize")


def install_tokenizer_shims():
    """Stand-ins for the two non-Debian imports of facebookresearch/sam3's sam3/model/tokenizer_ve.py.

    ftfy is not packaged for Debian 12 (`apt-cache policy python3-ftfy`: no candidate) and PyPI is not
    reachable here, so `ftfy.fix_text` is the identity; iopath's `g_pathmgr.open` is the builtin open."""
    notes = []
    try:
        import ftfy  # noqa: F401

        notes.append(f"ftfy {getattr(ftfy, '__version__', '?')} (real package)")
    except ImportError:
        ftfy = types.ModuleType("ftfy")
        ftfy.__spec__ = importlib.machinery.ModuleSpec("ftfy", None)
        ftfy.fix_text = lambda text, *a, **k: text
        sys.modules["ftfy"] = ftfy
        notes.append("ftfy stub: ftfy.fix_text(text) returns text unchanged (ftfy not installable: no Debian "
                     "package python3-ftfy, no PyPI access)")
    try:
        from iopath.common.file_io import g_pathmgr  # noqa: F401

        notes.append("iopath (real package)")
    except ImportError:
        names = ["iopath", "iopath.common", "iopath.common.file_io"]
        mods = {}
        for n in names:
            m = types.ModuleType(n)
            m.__spec__ = importlib.machinery.ModuleSpec(n, None, is_package=n != names[-1])
            if n != names[-1]:
                m.__path__ = []
            mods[n] = m
            sys.modules[n] = m
        mods["iopath"].common = mods["iopath.common"]
        mods["iopath.common"].file_io = mods["iopath.common.file_io"]
        mods["iopath.common.file_io"].g_pathmgr = types.SimpleNamespace(open=open)
        notes.append("iopath stub: iopath.common.file_io.g_pathmgr.open = builtin open (local files only)")
    for n in notes:
        _note(n)
    return notes


def install(transformers_src=None):
    if transformers_src:
        transformers_src = os.path.abspath(transformers_src)
        if transformers_src not in sys.path:
            sys.path.insert(0, transformers_src)
    sys.meta_path.insert(0, _StubFinder())
    sys.meta_path.insert(0, _PostExecFinder())
    _make_safetensors_pkg()
    _patch_metadata()
    _patch_torch()
    _patch_torchvision()
    _patch_torchvision_v2()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HOME", _HF_HOME)
