"""``njit`` for numhess's kernels: Numba's on-disk cache when it can be used, never a crash.

With ``cache=True`` Numba raises at import when no cache directory is writable ("no
locator available"), and at every call when a cache file is corrupt (a truncated or
garbage index or data file raises ``EOFError``/``UnpicklingError``, run after run; numba
issue #10434). Here both are a cache miss: the kernels compile in this process, and one
warning says where and what it costs.
"""
import os
import warnings

import numba
from numba.core.caching import FunctionCache

_warned = set()


def _warn_once(kind, message):
    if kind not in _warned:
        _warned.add(kind)
        warnings.warn("numhess: " + message, RuntimeWarning, stacklevel=3)


class _Cache(FunctionCache):
    """Numba's cache of one kernel; an entry it cannot read is a miss, then overwritten."""

    def load_overload(self, sig, target_context):
        try:
            cres = super().load_overload(sig, target_context)
            # two processes compiling other signatures at once can leave one's code under
            # the other's index entry (the index and data files are written apart)
            if cres is not None and tuple(cres.signature.args) != \
                    tuple(numba.core.sigutils.normalize_signature(sig)[0]):
                raise ValueError(f"the cached code is for {cres.signature.args}")
            return cres
        except Exception as err:
            _warn_once("corrupt", f"unreadable Numba cache in {self.cache_path} "
                       f"({type(err).__name__}: {err}); the kernels compile again and "
                       "replace it")
            try:
                self.flush()     # an empty index, so the kernel compiled now is saved
            except OSError:
                pass
            return None

    def save_overload(self, sig, data):
        try:
            super().save_overload(sig, data)
        except Exception as err:     # the kernel is compiled; only the copy on disk is lost
            _warn_once("save", f"cannot write Numba's cache in {self.cache_path} "
                       f"({type(err).__name__}: {err})")


def _unwritable_dirs(func):
    from numba.misc.appdirs import AppDirs
    dirs = [os.path.join(os.path.dirname(func.__code__.co_filename), "__pycache__"),
            AppDirs(appname="numba", appauthor=False).user_cache_dir]
    return ([f"NUMBA_CACHE_DIR={numba.config.CACHE_DIR}"] if numba.config.CACHE_DIR else []) + dirs


def njit(cache=False, **options):
    """``numba.njit(**options)``, with the on-disk cache (``cache=True``) where it works."""
    def decorate(func):
        dispatcher = numba.njit(**options)(func)
        if cache and not numba.config.DISABLE_JIT:     # else njit returned func itself
            try:
                dispatcher._cache = _Cache(func)    # what Dispatcher.enable_caching does
            except RuntimeError:      # Numba found no writable directory for this file
                _warn_once("nowhere", "Numba cannot write its cache in any of "
                           f"{', '.join(_unwritable_dirs(func))}, so numhess's kernels "
                           "compile in every process (a minute or two each time). Set "
                           "NUMBA_CACHE_DIR to a writable directory.")
                return dispatcher
            chosen = dispatcher._cache.cache_path
            if numba.config.CACHE_DIR and not chosen.startswith(numba.config.CACHE_DIR):
                _warn_once("elsewhere", f"NUMBA_CACHE_DIR={numba.config.CACHE_DIR} is not "
                           f"writable; Numba caches numhess's kernels in {chosen} instead")
        return dispatcher
    return decorate


def direct(dispatcher, keep):
    """A function that calls dispatcher once, then hands keep(entry) the compiled code
    for that call's argument types, to be called without Numba's type dispatch (0.2-0.3
    us a call with 5-16 arguments: most of a small sweep's fixed cost). Only for call
    sites that always pass the same types (numhess's own buffers): the compiled code
    does not check them, and an array of another dtype or layout would be misread."""
    def first(*args):
        result = dispatcher(*args)
        try:
            sig = tuple(dispatcher.typeof_pyval(a) for a in args)
            keep(dispatcher.overloads[sig].entry_point)
        except (AttributeError, KeyError):     # NUMBA_DISABLE_JIT: a plain function
            keep(dispatcher)
        return result
    return first
