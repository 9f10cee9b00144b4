"""sam3rt for Python: SAM 3 and SAM 2.1 segmentation through sam3rt's C API (ctypes).

    import numpy as np, sam3rt
    model = sam3rt.Model("facebook-sam3")             # config.json + model.safetensors
    session = model.image(rgb)                         # [H, W, 3] uint8, a path, or file bytes
    shoes = session.segment(text="shoe")               # every shoe
    shoes.masks, shoes.boxes, shoes.scores             # [N, H, W] bool, [N, 4] float32, [N]
    one = session.predict(points=[(420, 310)], labels=[1])   # three candidates
    better = session.predict(points=[(420, 310), (500, 330)], labels=[1, 0],
                             mask_input=one.low_res_logits[one.best], multimask=False)

    video = model.video("clip.mp4")                    # or a folder of frames, or a list of arrays
    video.add_points(frame=0, object_id=1, points=[(480, 270)])
    for frame in video.propagate():                    # one Result per frame, as it is tracked
        print(frame.frame, frame.ids, frame.masks.shape)

Why ctypes over the C API rather than a pybind11 extension: the C API already exists for
every other language, and it is the one boundary where exceptions become status codes, so
Python gets no second binding to keep in step with the C++ API and no build against
Python's headers (one library serves every Python version). Arrays cross as raw buffers
and are copied once into numpy.
"""
from __future__ import annotations

import ctypes
import json
import os
import queue
import threading
from ctypes import POINTER, c_char_p, c_double, c_float, c_int, c_int64, c_size_t, c_uint8, c_void_p

import numpy as np

__all__ = ["Error", "Model", "ImageSession", "VideoSession", "Result", "version"]


# ---- the library ---------------------------------------------------------------------

def _library_path() -> str:
    explicit = os.environ.get("SAM3RT_LIBRARY")
    if explicit:
        return explicit
    try:
        from . import _library  # written by CMake (build tree) or cmake --install
        return _library.PATH
    except ImportError:
        import ctypes.util
        found = ctypes.util.find_library("sam3rt")
        if not found:
            raise ImportError("sam3rt: libsam3rt not found (set SAM3RT_LIBRARY to its path)")
        return found


class _Box(ctypes.Structure):
    _fields_ = [("x1", c_float), ("y1", c_float), ("x2", c_float), ("y2", c_float)]


class _Point(ctypes.Structure):
    _fields_ = [("x", c_float), ("y", c_float), ("positive", c_int)]


class _ModelOptions(ctypes.Structure):
    _fields_ = [("device", c_char_p), ("precision", c_char_p), ("num_threads", c_int)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("type", c_char_p), ("image_size", c_int64), ("low_res_mask_size", c_int64),
                ("can_segment_concepts", c_int), ("can_segment_objects", c_int),
                ("can_track_video", c_int), ("random_weights", c_int)]


class _Instance(ctypes.Structure):
    _fields_ = [("prompt", c_char_p), ("id", c_int64), ("score", c_float), ("presence", c_float),
                ("box", _Box), ("area", c_int64), ("mask", POINTER(c_uint8)),
                ("low_res_logits", POINTER(c_float))]


class _Result(ctypes.Structure):
    _fields_ = [("width", c_int64), ("height", c_int64), ("frame", c_int64), ("low_res_size", c_int64),
                ("best", c_int), ("count", c_size_t), ("instances", POINTER(_Instance)),
                ("json", c_void_p)]


class _SegmentOptions(ctypes.Structure):
    _fields_ = [("score_threshold", c_float), ("nms", c_int), ("nms_iou", c_float), ("max_instances", c_int)]


class _MaskInput(ctypes.Structure):
    _fields_ = [("logits", POINTER(c_float)), ("mask", POINTER(c_uint8)), ("width", c_int64), ("height", c_int64)]


class _VideoInfo(ctypes.Structure):
    _fields_ = [("num_frames", c_int64), ("width", c_int64), ("height", c_int64), ("fps", c_double)]


class _PropagateOptions(ctypes.Structure):
    _fields_ = [("reverse", c_int), ("start_frame", c_int64), ("max_frames", c_int64)]


_READ_FRAME = ctypes.CFUNCTYPE(c_int, c_void_p, c_int64, POINTER(c_uint8))
_ON_FRAME = ctypes.CFUNCTYPE(c_int, c_void_p, POINTER(_Result))


def _load():
    lib = ctypes.CDLL(_library_path())
    h = c_void_p
    sig = {
        "sam3rt_last_error": (c_char_p, []),
        "sam3rt_status_name": (c_char_p, [c_int]),
        "sam3rt_version": (c_char_p, []),
        "sam3rt_free": (None, [c_void_p]),
        "sam3rt_decode_image_file": (c_int, [c_char_p, POINTER(POINTER(c_uint8)), POINTER(c_int64), POINTER(c_int64)]),
        "sam3rt_model_load": (c_int, [c_char_p, POINTER(_ModelOptions), POINTER(h)]),
        "sam3rt_model_free": (None, [h]),
        "sam3rt_model_get_info": (c_int, [h, POINTER(_ModelInfo)]),
        "sam3rt_result_free": (None, [POINTER(_Result)]),
        "sam3rt_image_create": (c_int, [h, POINTER(h)]),
        "sam3rt_image_free": (None, [h]),
        "sam3rt_image_set_rgb": (c_int, [h, POINTER(c_uint8), c_int64, c_int64, c_int64]),
        "sam3rt_image_set_file": (c_int, [h, c_char_p]),
        "sam3rt_image_set_encoded": (c_int, [h, POINTER(c_uint8), c_size_t]),
        "sam3rt_segment_options_default": (_SegmentOptions, []),
        "sam3rt_image_segment": (c_int, [h, c_char_p, POINTER(_Box), POINTER(c_int), c_size_t,
                                         POINTER(_SegmentOptions), POINTER(POINTER(_Result))]),
        "sam3rt_image_predict": (c_int, [h, POINTER(_Point), c_size_t, POINTER(_Box), POINTER(_MaskInput), c_int,
                                         POINTER(POINTER(_Result))]),
        "sam3rt_video_open": (c_int, [h, c_char_p, POINTER(h)]),
        "sam3rt_video_create": (c_int, [h, c_int64, c_int64, c_int64, c_double, _READ_FRAME, c_void_p, POINTER(h)]),
        "sam3rt_video_free": (None, [h]),
        "sam3rt_video_get_info": (c_int, [h, POINTER(_VideoInfo)]),
        "sam3rt_video_add_points": (c_int, [h, c_int64, c_int64, POINTER(_Point), c_size_t]),
        "sam3rt_video_add_box": (c_int, [h, c_int64, c_int64, POINTER(_Box)]),
        "sam3rt_video_add_mask": (c_int, [h, c_int64, c_int64, POINTER(c_uint8)]),
        "sam3rt_video_add_text": (c_int, [h, c_char_p, c_int64]),
        "sam3rt_video_propagate": (c_int, [h, POINTER(_PropagateOptions), _ON_FRAME, c_void_p, POINTER(c_int64)]),
        "sam3rt_video_reset": (c_int, [h]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


_lib = _load()


class Error(Exception):
    """A failed sam3rt call. `code` is the status name ("invalid argument", "not found",
    "I/O error", "corrupt input", "unsupported", "internal error")."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _check(status: int) -> None:
    if status != 0:
        raise Error(_lib.sam3rt_status_name(status).decode(), _lib.sam3rt_last_error().decode(errors="replace"))


def version() -> str:
    """The library's version."""
    return _lib.sam3rt_version().decode()


def _utf8(s) -> bytes:
    if isinstance(s, os.PathLike):
        s = os.fspath(s)
    return s.encode() if isinstance(s, str) else bytes(s)


def _boxes(boxes):
    arr = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    out = (_Box * max(len(arr), 1))()
    for i, b in enumerate(arr):
        out[i] = _Box(*b)
    return out, len(arr)


def _points(points, labels):
    pts = np.asarray(points if points is not None else [], dtype=np.float32).reshape(-1, 2)
    labs = np.ones(len(pts), dtype=np.int64) if labels is None else np.asarray(labels).reshape(-1)
    if len(labs) != len(pts):
        raise Error("invalid argument", f"{len(pts)} points but {len(labs)} labels")
    out = (_Point * max(len(pts), 1))()
    for i, ((x, y), l) in enumerate(zip(pts, labs)):
        out[i] = _Point(float(x), float(y), int(l != 0))
    return out, len(pts)


def _rgb(array) -> np.ndarray:
    a = np.asarray(array)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise Error("invalid argument", f"an image must be uint8 [H, W, 3], got {a.dtype} {list(a.shape)}")
    # Rows may be strided (a crop of a bigger array); pixels must be packed RGB.
    if a.strides[1] != 3 or a.strides[2] != 1:
        a = np.ascontiguousarray(a)
    return a


class Result:
    """One answer: a concept or object segmentation of an image, or one tracked video frame.

    Arrays (N = number of instances, in the answer's order: concept by score, object
    candidates by predicted IoU, video objects by id):
      masks [N, H, W] bool, boxes [N, 4] float32 (x1, y1, x2, y2), scores [N] float32,
      presence [N] float32, areas [N] int64, ids [N] int64, prompts: list of N strings;
      object mode also low_res_logits [N, S, S] float32 and best (index of the top IoU).
    `json` is the same JSON `sam3rt segment` / `sam3rt track` write (timings left out);
    as_dict() parses it.
    """

    def __init__(self, r: _Result):
        self.width, self.height = int(r.width), int(r.height)
        self.frame = int(r.frame) if r.frame >= 0 else None
        self.best = int(r.best)
        n, h, w, s = int(r.count), self.height, self.width, int(r.low_res_size)
        self.masks = np.zeros((n, h, w), dtype=bool)
        self.boxes = np.zeros((n, 4), dtype=np.float32)
        self.scores = np.zeros(n, dtype=np.float32)
        self.presence = np.zeros(n, dtype=np.float32)
        self.areas = np.zeros(n, dtype=np.int64)
        self.ids = np.zeros(n, dtype=np.int64)
        self.prompts = []
        self.low_res_logits = np.zeros((n, s, s), dtype=np.float32) if s > 0 else None
        for i in range(n):
            inst = r.instances[i]
            self.masks[i] = np.ctypeslib.as_array(inst.mask, shape=(h, w)).astype(bool)
            self.boxes[i] = (inst.box.x1, inst.box.y1, inst.box.x2, inst.box.y2)
            self.scores[i] = inst.score
            self.presence[i] = inst.presence
            self.areas[i] = inst.area
            self.ids[i] = inst.id
            self.prompts.append(inst.prompt.decode())
            if s > 0:
                self.low_res_logits[i] = np.ctypeslib.as_array(inst.low_res_logits, shape=(s, s))
        self.json = ctypes.string_at(r.json).decode()

    def __len__(self) -> int:
        return len(self.scores)

    def as_dict(self) -> dict:
        return json.loads(self.json)

    def __repr__(self) -> str:
        where = f"frame {self.frame}, " if self.frame is not None else ""
        return f"<sam3rt.Result {where}{len(self)} instances, {self.width}x{self.height}>"


def _take_result(ptr) -> Result:
    try:
        return Result(ptr.contents)
    finally:
        _lib.sam3rt_result_free(ptr)


class Model:
    """A model folder (config.json + model.safetensors): facebook/sam3, SAM 3's image or
    tracker layouts, facebook/sam2.1-hiera-*, SAM 2. Load once; share between sessions."""

    def __init__(self, model_dir, device: str = "cpu", precision: str = "fp32", threads: int = 0):
        opts = _ModelOptions(device.encode(), precision.encode(), int(threads))
        handle = c_void_p()
        _check(_lib.sam3rt_model_load(_utf8(model_dir), ctypes.byref(opts), ctypes.byref(handle)))
        self._handle = handle
        info = _ModelInfo()
        _check(_lib.sam3rt_model_get_info(handle, ctypes.byref(info)))
        self.type = info.type.decode()
        self.image_size = int(info.image_size)
        self.low_res_mask_size = int(info.low_res_mask_size)
        self.can_segment_concepts = bool(info.can_segment_concepts)
        self.can_segment_objects = bool(info.can_segment_objects)
        self.can_track_video = bool(info.can_track_video)
        self.random_weights = bool(info.random_weights)

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.sam3rt_model_free(self._handle)
            self._handle = None

    def image(self, image=None) -> "ImageSession":
        """An image session; `image` (optional): [H, W, 3] uint8 RGB, a path, or file bytes."""
        return ImageSession(self, image)

    def video(self, source, fps: float = 0.0) -> "VideoSession":
        """A video session over a video file or frame folder (path), or a sequence of
        [H, W, 3] uint8 RGB frames (a list, or an [N, H, W, 3] array)."""
        return VideoSession(self, source, fps)

    def __repr__(self) -> str:
        return f"<sam3rt.Model {self.type}, input {self.image_size}>"


class ImageSession:
    """One image, encoded once; any number of prompts against it. One thread at a time."""

    def __init__(self, model: Model, image=None):
        self._model = model
        handle = c_void_p()
        _check(_lib.sam3rt_image_create(model._handle, ctypes.byref(handle)))
        self._handle = handle
        if image is not None:
            self.set_image(image)

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.sam3rt_image_free(self._handle)
            self._handle = None

    def set_image(self, image) -> None:
        """[H, W, 3] uint8 RGB, a path (str or PathLike), or an encoded file's bytes."""
        if isinstance(image, (str, os.PathLike)):
            _check(_lib.sam3rt_image_set_file(self._handle, _utf8(image)))
        elif isinstance(image, (bytes, bytearray, memoryview)):
            data = bytes(image)
            buf = (c_uint8 * max(len(data), 1)).from_buffer_copy(data or b"\0")
            _check(_lib.sam3rt_image_set_encoded(self._handle, buf, len(data)))
        else:
            a = _rgb(image)
            ptr = a.ctypes.data_as(POINTER(c_uint8))
            _check(_lib.sam3rt_image_set_rgb(self._handle, ptr, a.shape[1], a.shape[0], a.strides[0]))

    def segment(self, text: str | None = None, boxes=None, box_labels=None, threshold: float = 0.5,
                nms: float | None = None, max_instances: int = 0) -> Result:
        """Concept segmentation: every instance of `text` and/or of what the exemplar boxes
        ([K, 4] pixel corners; box_labels 1 = this, 0 = not this) show. nms: suppress
        instances whose mask IoU with a better one exceeds it (None: off)."""
        b, nb = _boxes(boxes if boxes is not None else [])
        labels = None
        if box_labels is not None:
            lab = np.asarray(box_labels).reshape(-1)
            if len(lab) != nb:
                raise Error("invalid argument", f"{nb} boxes but {len(lab)} box labels")
            labels = (c_int * max(nb, 1))(*[int(x != 0) for x in lab])
        opts = _SegmentOptions(float(threshold), int(nms is not None), float(nms if nms is not None else 0.5),
                               int(max_instances))
        out = POINTER(_Result)()
        _check(_lib.sam3rt_image_segment(self._handle, _utf8(text) if text else None, b, labels, nb,
                                         ctypes.byref(opts), ctypes.byref(out)))
        return _take_result(out)

    def predict(self, points=None, labels=None, box=None, mask_input=None, multimask: bool | None = None) -> Result:
        """Object segmentation: clicks ([K, 2] pixels; labels 1 = object, 0 = not), a box
        (x1, y1, x2, y2), and/or a mask input (float32 [S, S] low-resolution logits such as
        a previous result's low_res_logits[best], or a bool/uint8 mask of the image's size).
        multimask: three candidates (True), one (False), or SAM's rule (None)."""
        p, n = _points(points, labels)
        bptr = None
        if box is not None:
            bptr = ctypes.byref(_Box(*np.asarray(box, dtype=np.float32).reshape(4)))
        mptr, keep = None, None
        if mask_input is not None:
            m = np.asarray(mask_input)
            if m.ndim != 2:
                raise Error("invalid argument", f"mask_input must be 2-D, got shape {list(m.shape)}")
            if m.dtype in (np.float32, np.float64):
                keep = np.ascontiguousarray(m, dtype=np.float32)
                mi = _MaskInput(keep.ctypes.data_as(POINTER(c_float)), None, m.shape[1], m.shape[0])
            else:
                keep = np.ascontiguousarray(m != 0, dtype=np.uint8)
                mi = _MaskInput(None, keep.ctypes.data_as(POINTER(c_uint8)), m.shape[1], m.shape[0])
            mptr = ctypes.byref(mi)
        mm = -1 if multimask is None else int(bool(multimask))
        out = POINTER(_Result)()
        _check(_lib.sam3rt_image_predict(self._handle, p if n else None, n, bptr, mptr, mm, ctypes.byref(out)))
        return _take_result(out)


class VideoSession:
    """Objects tracked through a video: prompts on frames (clicks, boxes, masks) or texts,
    then propagate(). One thread at a time."""

    def __init__(self, model: Model, source, fps: float = 0.0):
        self._model = model
        handle = c_void_p()
        self._frames = None
        if isinstance(source, (str, os.PathLike)):
            _check(_lib.sam3rt_video_open(model._handle, _utf8(source), ctypes.byref(handle)))
        else:
            frames = [_rgb(f) for f in source]
            if not frames:
                raise Error("invalid argument", "a video needs at least one frame")
            h, w = frames[0].shape[:2]
            for i, f in enumerate(frames):
                if f.shape[:2] != (h, w):
                    raise Error("invalid argument", f"frame {i} is {f.shape[1]}x{f.shape[0]}, frame 0 {w}x{h}")
            held = self._frames = [np.ascontiguousarray(f) for f in frames]

            def read(_user, index, out):
                try:
                    ctypes.memmove(out, held[index].ctypes.data, held[index].nbytes)
                    return 0
                except Exception:  # noqa: BLE001 - reported to the library as a failed read
                    return 1

            self._read = _READ_FRAME(read)  # kept alive with the session
            _check(_lib.sam3rt_video_create(model._handle, len(frames), w, h, float(fps), self._read, None,
                                            ctypes.byref(handle)))
        self._handle = handle
        info = _VideoInfo()
        _check(_lib.sam3rt_video_get_info(handle, ctypes.byref(info)))
        self.num_frames, self.width, self.height = int(info.num_frames), int(info.width), int(info.height)
        self.fps = float(info.fps)

    def __del__(self):
        if getattr(self, "_handle", None):
            _lib.sam3rt_video_free(self._handle)
            self._handle = None

    def __len__(self) -> int:
        return self.num_frames

    def add_points(self, frame: int, object_id: int, points, labels=None) -> None:
        p, n = _points(points, labels)
        _check(_lib.sam3rt_video_add_points(self._handle, int(frame), int(object_id), p if n else None, n))

    def add_box(self, frame: int, object_id: int, box) -> None:
        b = _Box(*np.asarray(box, dtype=np.float32).reshape(4))
        _check(_lib.sam3rt_video_add_box(self._handle, int(frame), int(object_id), ctypes.byref(b)))

    def add_mask(self, frame: int, object_id: int, mask) -> None:
        m = np.ascontiguousarray(np.asarray(mask) != 0, dtype=np.uint8)
        if m.shape != (self.height, self.width):
            raise Error("invalid argument",
                        f"a mask must be {self.height}x{self.width} (the video's size), got {list(m.shape)}")
        _check(_lib.sam3rt_video_add_mask(self._handle, int(frame), int(object_id),
                                          m.ctypes.data_as(POINTER(c_uint8))))

    def add_text(self, text: str, frame: int = 0) -> None:
        _check(_lib.sam3rt_video_add_text(self._handle, _utf8(text), int(frame)))

    def reset(self) -> None:
        _check(_lib.sam3rt_video_reset(self._handle))

    def propagate(self, reverse: bool = False, start_frame: int | None = None, max_frames: int = 0):
        """Yields one Result per tracked frame, as each is tracked (the tracking runs on a
        helper thread, one frame ahead at most). Leaving the loop early stops it."""
        opts = _PropagateOptions(int(reverse), -1 if start_frame is None else int(start_frame), int(max_frames))
        handoff: queue.Queue = queue.Queue(maxsize=1)
        stop = threading.Event()
        done = object()

        def on_frame(_user, result):
            if stop.is_set():
                return 0
            handoff.put(Result(result.contents))
            return 0 if stop.is_set() else 1

        callback = _ON_FRAME(on_frame)

        def run():
            try:
                _check(_lib.sam3rt_video_propagate(self._handle, ctypes.byref(opts), callback, None, None))
                handoff.put(done)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer
                handoff.put(e)

        worker = threading.Thread(target=run, name="sam3rt-propagate", daemon=True)
        worker.start()
        try:
            while True:
                item = handoff.get()
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # let a waiting put() finish, then the thread ends
                try:
                    handoff.get(timeout=0.05)
                except queue.Empty:
                    pass
            worker.join()


def decode_image(path) -> np.ndarray:
    """An image file as [H, W, 3] uint8 RGB (EXIF orientation applied)."""
    buf = POINTER(c_uint8)()
    w, h = c_int64(), c_int64()
    _check(_lib.sam3rt_decode_image_file(_utf8(path), ctypes.byref(buf), ctypes.byref(w), ctypes.byref(h)))
    try:
        return np.ctypeslib.as_array(buf, shape=(h.value, w.value, 3)).copy()
    finally:
        _lib.sam3rt_free(buf)


__all__.append("decode_image")
