"""Errors a user can cause and fix: the stage scripts print their message, without a traceback."""


class SrganError(Exception):
    """A problem with params, input files or downloads, explained in one message naming the key, file or URL."""
