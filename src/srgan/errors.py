"""Errors a user can cause and fix: the stage scripts print their message, without a traceback; and the files a
step skipped, said in a few lines."""


class SrganError(Exception):
    """A problem with params, input files or downloads, explained in one message naming the key, file or URL."""


def grouped(skipped: dict[str, str], most: int = 3) -> list[str]:
    """One line per reason: the files it holds (the first `most` of them named, then a count), then the reason; a
    folder of 400 camera sidecars is one line."""
    by_reason: dict[str, list[str]] = {}
    for path, why in skipped.items():
        by_reason.setdefault(why, []).append(path)
    return [", ".join(paths[:most]) + (f" and {len(paths) - most} more" if len(paths) > most else "") + f": {why}"
            for why, paths in by_reason.items()]
