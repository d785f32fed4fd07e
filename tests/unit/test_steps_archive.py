"""tar and untar: Kargo's behaviour, and hostile archives refused whole."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.steps.base import STEP_FAILED, workdir
from activities.steps.tar import tar
from activities.steps.untar import untar
from tests.gitrepos import promo, step, work_root  # noqa: F401

env = ActivityEnvironment()


def tree(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = "-> " + os.readlink(p)
            elif p.is_file():
                out[rel] = p.read_text()
    return out


@pytest.fixture
def work(promo: str) -> Path:
    base = workdir(promo)
    src = base / "src"
    (src / "chart" / "templates").mkdir(parents=True)
    (src / "chart" / "Chart.yaml").write_text("name: demo\n")
    (src / "chart" / "templates" / "deploy.yaml").write_text("kind: Deployment\n")
    (src / "chart" / "debug.log").write_text("noise\n")
    (src / "chart" / "values-link.yaml").symlink_to("Chart.yaml")
    (src / ".git").mkdir()
    (src / ".git" / "config").write_text("[core]\n")
    return base


async def run_tar(promo: str, **config: object):
    return await env.run(tar, step(promo, "tar", dict(config)))


async def run_untar(promo: str, **config: object):
    return await env.run(untar, step(promo, "untar", dict(config)))


async def failure(coro) -> str:
    with pytest.raises(ApplicationError) as info:
        await coro
    assert info.value.type == STEP_FAILED and info.value.non_retryable
    return str(info.value)


def archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], gz: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz" if gz else "w") as t:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            t.addfile(info, io.BytesIO(data) if data is not None else None)


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


async def test_tar_then_untar_round_trips_with_ignore_and_strip(promo: str, work: Path) -> None:
    await run_tar(promo, inPath="src", outPath="out/bundle.tar.gz", gzip=True, ignore="*.log\n")
    with tarfile.open(work / "out/bundle.tar.gz") as t:  # gzip detected by tarfile itself
        names = t.getnames()
    assert names == ["chart", "chart/templates", "chart/Chart.yaml", "chart/values-link.yaml",
                     "chart/templates/deploy.yaml"]
    await run_untar(promo, inPath="out/bundle.tar.gz", outPath="extracted", stripComponents=1)
    assert tree(work / "extracted") == {
        "templates/deploy.yaml": "kind: Deployment\n", "Chart.yaml": "name: demo\n", "values-link.yaml": "-> Chart.yaml",
    }


async def test_tar_of_one_file_plain_and_untar_replaces_the_output(promo: str, work: Path) -> None:
    await run_tar(promo, inPath="src/chart/Chart.yaml", outPath="one.tar")
    with open(work / "one.tar", "rb") as f:
        assert f.read(2) != b"\x1f\x8b"
    with tarfile.open(work / "one.tar") as t:
        assert t.getnames() == ["Chart.yaml"]
    (work / "dest").mkdir()
    (work / "dest" / "stale.txt").write_text("old\n")
    await run_untar(promo, inPath="one.tar", outPath="dest", ignore="*.log")
    assert tree(work / "dest") == {"Chart.yaml": "name: demo\n"}  # the old content is gone, as in Kargo
    assert [p.name for p in work.iterdir() if "gantry" in p.name and p.name != ".gantry-promotion"] == []


async def test_tar_refuses_escapes_and_special_files(promo: str, work: Path, tmp_path: Path) -> None:
    assert "config field 'inPath'" in await failure(run_tar(promo, inPath="../", outPath="x.tar"))
    assert "does not exist" in await failure(run_tar(promo, inPath="nothing", outPath="x.tar"))
    (work / "outlink").symlink_to(tmp_path)
    assert "points outside the working directory" in await failure(run_tar(promo, inPath="src", outPath="outlink/x.tar"))
    os.mkfifo(work / "src" / "chart" / "pipe")
    assert "is a device, FIFO or socket" in await failure(run_tar(promo, inPath="src", outPath="x.tar"))
    assert "unknown field 'gzipp'; did you mean 'gzip'?" in await failure(
        run_tar(promo, inPath="src", outPath="x.tar", gzipp=True)
    )


@pytest.mark.parametrize(
    "members, message",
    [
        ([(member("../evil"), b"x")], "entry '../evil' has a '..' part"),
        ([(member("a/../../evil"), b"x")], "has a '..' part"),
        ([(member("/etc/evil"), b"x")], "is an absolute path"),
        ([(member("dev", tarfile.CHRTYPE), None)], "entry 'dev' is a device or FIFO"),
        ([(member("fifo", tarfile.FIFOTYPE), None)], "is a device or FIFO"),
        ([(member("hard", tarfile.LNKTYPE, "/etc/passwd"), None)], "entry 'hard' is a hard link"),
        ([(member("abs", tarfile.SYMTYPE, "/etc"), None)], "symbolic link 'abs' -> '/etc' is absolute"),
        ([(member("up", tarfile.SYMTYPE, "../.."), None)], "symbolic link 'up' -> '../..' leads out of the extracted tree"),
        # chained: each link looks harmless alone, together they climb out
        ([(member("l", tarfile.SYMTYPE, "."), None), (member("m", tarfile.SYMTYPE, "l/.."), None)],
         "symbolic link 'm' -> 'l/..' leads out"),
        ([(member("g", tarfile.SYMTYPE, "x/.git/hooks"), None)], "leads into .git"),
    ],
)
async def test_untar_refuses_a_hostile_archive_whole(promo: str, work: Path, members: list, message: str) -> None:
    archive(work / "evil.tar.gz", [(member("fine.txt"), b"ok"), *members], gz=True)
    (work / "dest").mkdir()
    (work / "dest" / "keep.txt").write_text("kept\n")
    text = await failure(run_untar(promo, inPath="evil.tar.gz", outPath="dest"))
    assert "config field 'inPath': archive 'evil.tar.gz' refused" in text and message in text
    assert tree(work / "dest") == {"keep.txt": "kept\n"}  # outPath untouched
    assert not (work.parent / "evil").exists() and not Path("/etc/evil").exists()


async def test_untar_never_writes_through_a_link_of_the_archive(promo: str, work: Path, tmp_path: Path) -> None:
    archive(work / "a.tar", [(member("d", tarfile.SYMTYPE, "sub"), None), (member("d/x"), b"x")])
    assert "entry 'd/x' would be written through the symbolic link 'd'" in await failure(
        run_untar(promo, inPath="a.tar", outPath="dest")
    )


async def test_untar_skips_git_and_short_entries_and_checks_sizes(promo: str, work: Path, monkeypatch) -> None:
    archive(work / "a.tar", [(member("top"), b"t"), (member("pkg/.git/config"), b"c"), (member("pkg/in"), b"i")])
    await run_untar(promo, inPath="a.tar", outPath="dest", stripComponents=1)
    assert tree(work / "dest") == {"in": "i"}
    archive(work / "b.tar", [(member("big"), b"xx"), (member("big2"), b"yy")])
    monkeypatch.setattr("activities.steps.untar.MAX_TOTAL", 3)
    assert "exceed 3 bytes in all" in await failure(run_untar(promo, inPath="b.tar", outPath="dest2"))
    monkeypatch.setattr("activities.steps.untar.MAX_FILE", 1)
    assert "entry 'big' holds 2 bytes, more than the 1 a file may hold" in await failure(
        run_untar(promo, inPath="b.tar", outPath="dest2")
    )


async def test_untar_refuses_what_is_not_an_archive(promo: str, work: Path) -> None:
    (work / "junk.tar.gz").write_bytes(b"\x1f\x8bnot really gzip")
    assert "is not a readable tar archive" in await failure(run_untar(promo, inPath="junk.tar.gz", outPath="dest"))
    assert "must not be the working directory itself" in await failure(run_untar(promo, inPath="junk.tar.gz", outPath="."))
    assert "config field 'stripComponents': Input should be greater than or equal to 0" in await failure(
        run_untar(promo, inPath="junk.tar.gz", outPath="dest", stripComponents=-1)
    )


async def test_names_are_judged_after_strip_components(promo: str, work: Path) -> None:
    # as in Kargo, the stripped part is gone before the name is judged
    archive(work / "a.tar", [(member("../pkg/ok.txt"), b"ok")])
    await run_untar(promo, inPath="a.tar", outPath="dest", stripComponents=1)
    assert tree(work / "dest") == {"pkg/ok.txt": "ok"}
    assert "has a '..' part" in await failure(run_untar(promo, inPath="a.tar", outPath="dest2"))
