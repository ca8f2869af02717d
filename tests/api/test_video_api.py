"""Videos through the service: a case holds a vpdq signature; uploads and clips match it."""

from __future__ import annotations

from pathlib import Path

from rempart.signals import compute_video_signals
from tests.api.conftest import Api
from tests.videos import black, scenes, write_animation, write_video


def test_protected_video_and_a_clip_of_it_are_caught(
    api: Api, photos: list[Path], tmp_path: Path
) -> None:
    original = write_video(tmp_path / "original.mp4", scenes(photos[20:32], seconds_each=2))
    clip = write_video(
        tmp_path / "clip.webm", scenes(photos[24:28], seconds_each=2), codec="libvpx"
    )
    unrelated = write_video(tmp_path / "other.mp4", scenes(photos[40:46], seconds_each=2))
    signature = compute_video_signals(str(original))
    created = api.client.post(
        "/v1/cases", json={"signals": [s.to_json() for s in signature.signals()]}
    )
    assert created.status_code == 201, created.text
    platform = api.auth(api.key(["match"], org="example-platform"))

    reupload = api.client.post(
        "/v1/match/file", files={"file": ("v.mp4", original.read_bytes())}, headers=platform
    )
    excerpt = api.client.post(
        "/v1/match/file", files={"file": ("c.webm", clip.read_bytes())}, headers=platform
    )
    other = api.client.post(
        "/v1/match/file", files={"file": ("o.mp4", unrelated.read_bytes())}, headers=platform
    )

    assert reupload.status_code == 200, reupload.text
    body = reupload.json()
    assert body["media"]["kind"] == "video"
    assert [s["type"] for s in body["signals"]] == ["vpdq", "md5", "sha256"]
    video = body["results"][0]["matches"][0]
    assert (video["match_type"], video["action"]) == ("video", "remove")
    assert video["details"]["query_match_pct"] >= 80
    assert body["results"][2]["matches"][0]["match_type"] == "exact"

    found = excerpt.json()["results"][0]["matches"]
    assert [m["match_type"] for m in found] == ["clip"]
    assert 6.0 <= found[0]["details"]["reference_start_s"] <= 10.0
    assert found[0]["details"]["reference_end_s"] <= 18.0
    assert all(not entry["matches"] for entry in other.json()["results"])


def test_animated_gif_gets_image_and_video_signals(
    api: Api, photos: list[Path], tmp_path: Path
) -> None:
    animation = write_animation(
        tmp_path / "a.gif", scenes(photos[50:53], seconds_each=2, fps=2), 500, "GIF"
    )
    platform = api.auth(api.key(["match"], org="example-platform"))

    response = api.client.post(
        "/v1/match/file", files={"file": ("a.gif", animation.read_bytes())}, headers=platform
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["media"]["kind"] == "animation"
    assert [s["type"] for s in body["signals"]][-1] == "vpdq"
    assert "pdq" in [s["type"] for s in body["signals"]]


def test_bad_video_uploads(api: Api, tmp_path: Path) -> None:
    platform = api.auth(api.key(["match"], org="example-platform"))
    good = write_video(tmp_path / "b.mp4", black(3)).read_bytes()

    truncated = api.client.post(
        "/v1/match/file", files={"file": ("t.mp4", good[: len(good) // 3])}, headers=platform
    )
    flat = api.client.post("/v1/match/file", files={"file": ("b.mp4", good)}, headers=platform)

    assert truncated.status_code == 422
    assert truncated.json()["error"]["code"] == "corrupt_media"
    # Black frames have no usable PDQ: the video is hashed but matches nothing.
    assert flat.status_code == 200
