"""The Python module against the CLI (same JSON, byte for byte), against itself (an image
given three ways, a video from a folder and from arrays) and on bad input.

Environment (set by ctest): SAM3RT_TEST_DATA (tests/data), SAM3RT_DEMO_MODEL (a random
checkpoint of assets/demo/config.json, CLIP's vocabulary), SAM3RT_CLI (the sam3rt program).
"""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import sam3rt

DATA = Path(os.environ["SAM3RT_TEST_DATA"])
DEMO = Path(os.environ["SAM3RT_DEMO_MODEL"])
CLI = os.environ["SAM3RT_CLI"]
TINY_VIDEO = DATA / "sam3-tiny-seed0" / "sam3_video"
TINY_SAM2 = DATA / "sam2-tiny-seed0" / "sam2_video"
OVEN = DATA / "images" / "oven.jpg"
FRAMES = DATA / "video"


def cli_segment(tmp_path, model, image, *args):
    out = tmp_path / "segment"
    subprocess.run([CLI, "segment", "--model", str(model), "--image", str(image), "--out", str(out),
                    "--no-timings", *args], check=True, capture_output=True)
    return (out / "result.json").read_text()


def cli_track_frames(tmp_path, model, video, *args):
    out = tmp_path / "track"
    subprocess.run([CLI, "track", "--model", str(model), "--video", str(video), "--out", str(out),
                    "--no-overlay", "--no-masks", *args], check=True, capture_output=True)
    return json.loads((out / "tracks.json").read_text())["frames"]


@pytest.fixture(scope="module")
def tiny():
    return sam3rt.Model(TINY_VIDEO)


def test_model_info(tiny):
    assert tiny.type == "sam3_video"
    assert tiny.image_size == 224
    assert tiny.low_res_mask_size == 64
    assert tiny.can_segment_concepts and tiny.can_segment_objects and tiny.can_track_video
    assert not tiny.random_weights
    sam2 = sam3rt.Model(TINY_SAM2)
    assert sam2.type == "sam2_video" and not sam2.can_segment_concepts and sam2.can_track_video
    assert sam3rt.version().count(".") == 2


def test_click_matches_cli_and_refines(tiny, tmp_path):
    session = tiny.image(OVEN)
    r = session.predict(points=[(120, 200)], labels=[1])
    assert len(r) == 3 and r.masks.shape == (3, 500, 332) and r.masks.dtype == bool
    assert r.low_res_logits.shape == (3, 64, 64)
    assert r.best == int(np.argmax(r.scores)) == 0
    assert list(r.scores) == sorted(r.scores, reverse=True)
    np.testing.assert_array_equal(r.masks.sum(axis=(1, 2)), r.areas)
    assert r.prompts == ["object"] * 3
    assert r.json == cli_segment(tmp_path, TINY_VIDEO, OVEN, "--point", "120,200")
    d = r.as_dict()
    assert [i["candidate"] for i in d["instances"]] == list(r.ids)
    np.testing.assert_allclose([i["iou"] for i in d["instances"]], r.scores, rtol=1e-6)

    refined = session.predict(points=[(120, 200), (250, 60)], labels=[1, 0],
                              mask_input=r.low_res_logits[r.best], multimask=False)
    assert len(refined) == 1
    box = session.predict(box=(40, 80, 300, 420))
    assert len(box) == 1
    assert box.json == cli_segment(tmp_path, TINY_VIDEO, OVEN, "--box", "40,80,300,420", "--mode", "object")
    mask = np.zeros((500, 332), dtype=bool)
    mask[100:300, 50:250] = True
    assert len(session.predict(mask_input=mask, multimask=True)) == 3


def test_image_from_array_bytes_and_path_agree(tiny):
    rgb = sam3rt.decode_image(OVEN)
    assert rgb.shape == (500, 332, 3) and rgb.dtype == np.uint8
    click = dict(points=[(120, 200)])
    a = tiny.image(OVEN).predict(**click)
    b = tiny.image(OVEN.read_bytes()).predict(**click)
    c = tiny.image(rgb).predict(**click)
    padded = np.zeros((500, 340, 3), dtype=np.uint8)
    padded[:, :332] = rgb
    d = tiny.image(padded[:, :332]).predict(**click)  # strided rows
    assert a.json == b.json == c.json == d.json
    np.testing.assert_array_equal(a.masks, d.masks)


def test_concepts_match_cli(tmp_path):
    model = sam3rt.Model(DEMO)
    assert model.random_weights
    session = model.image(OVEN)
    r = session.segment(text="oven", threshold=0.0)
    assert len(r) > 0 and r.low_res_logits is None
    assert r.prompts == ["oven"] * len(r)
    assert list(r.scores) == sorted(r.scores, reverse=True)
    assert r.json == cli_segment(tmp_path, DEMO, OVEN, "--text", "oven", "--threshold", "0")
    assert len(session.segment(text="oven", threshold=0.0, max_instances=2)) == min(2, len(r))
    v = session.segment(boxes=[(40, 80, 300, 420), (10, 10, 60, 60)], box_labels=[1, 0], threshold=0.0)
    assert set(v.prompts) <= {"visual"}
    assert v.json == cli_segment(tmp_path, DEMO, OVEN, "--box", "40,80,300,420", "--box", "10,10,60,60,neg",
                                 "--mode", "concept", "--threshold", "0")


def test_bad_input_raises_named_errors(tiny):
    with pytest.raises(sam3rt.Error) as e:
        sam3rt.Model("/nonexistent/model")
    assert e.value.code == "not found" and "/nonexistent/model" in e.value.message
    with pytest.raises(sam3rt.Error, match="precision"):
        sam3rt.Model(TINY_VIDEO, precision="fp64")
    session = tiny.image()
    with pytest.raises(sam3rt.Error, match="no image"):
        session.predict(points=[(1, 1)])
    with pytest.raises(sam3rt.Error, match=r"uint8 \[H, W, 3\]"):
        session.set_image(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(sam3rt.Error) as e:
        session.set_image(b"not an image at all")
    assert e.value.code == "corrupt input"
    with pytest.raises(sam3rt.Error) as e:
        session.set_image(DATA / "images" / "not_an_image.png")
    assert e.value.code == "corrupt input"
    session.set_image(OVEN)
    with pytest.raises(sam3rt.Error, match="outside"):
        session.predict(points=[(400, 10)])
    with pytest.raises(sam3rt.Error, match="labels"):
        session.predict(points=[(1, 1), (2, 2)], labels=[1])
    with pytest.raises(sam3rt.Error) as e:
        session.segment(text="oven")  # the tiny text encoder knows 100 tokens
    assert e.value.code == "unsupported" and "100 tokens" in e.value.message


def test_video_folder_and_arrays_agree_with_cli(tmp_path):
    model = sam3rt.Model(TINY_SAM2)
    arrays = [sam3rt.decode_image(FRAMES / f"0000{i}.jpg") for i in range(4)]
    from_folder = model.video(FRAMES)
    from_arrays = model.video(np.stack(arrays), fps=25)
    assert (len(from_folder), from_folder.width, from_folder.height, from_folder.fps) == (4, 960, 540, 0.0)
    assert (len(from_arrays), from_arrays.fps) == (4, 25.0)
    for v in (from_folder, from_arrays):
        v.add_points(frame=0, object_id=1, points=[(480, 270)])
        v.add_box(frame=0, object_id=2, box=(100, 100, 400, 300))
    a = list(from_folder.propagate())
    b = list(from_arrays.propagate())
    assert [f.frame for f in a] == [0, 1, 2, 3]
    assert [f.json for f in a] == [f.json for f in b]
    assert all(list(f.ids) == [1, 2] for f in a)
    cli = cli_track_frames(tmp_path, TINY_SAM2, FRAMES, "--point", "0:480,270@1", "--box", "0:100,100,400,300@2")
    assert [f.as_dict() for f in b] == cli

    # Leaving the loop early stops the tracking; a mask prompt after a reset.
    first = next(iter(from_arrays.propagate(reverse=True, start_frame=3)))
    assert first.frame == 3
    from_arrays.reset()
    mask = np.zeros((540, 960), dtype=bool)
    mask[200:340, 400:560] = True
    from_arrays.add_mask(frame=1, object_id=7, mask=mask)
    frames = list(from_arrays.propagate(start_frame=1, max_frames=2))
    assert [f.frame for f in frames] == [1, 2] and list(frames[0].ids) == [7]
    with pytest.raises(sam3rt.Error, match="frame 9"):
        from_arrays.add_points(frame=9, object_id=1, points=[(1, 1)])
    with pytest.raises(sam3rt.Error, match="video's size"):
        from_arrays.add_mask(frame=0, object_id=1, mask=np.zeros((10, 10), dtype=bool))
    with pytest.raises(sam3rt.Error, match="frame 1 is"):
        model.video([arrays[0], arrays[0][:100]])


def test_video_text_matches_cli(tmp_path):
    model = sam3rt.Model(DEMO)
    video = model.video(FRAMES)
    video.add_text("person")
    frames = list(video.propagate())
    assert [f.frame for f in frames] == [0, 1, 2, 3]
    assert [f.as_dict() for f in frames] == cli_track_frames(tmp_path, DEMO, FRAMES, "--text", "person")
