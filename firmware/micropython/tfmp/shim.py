"""CPython stand-ins for MicroPython's compile-time helpers, so that the viper kernels run
unchanged there (for convenience only: MicroPython never imports this module)."""


class micropython:  # noqa: N801 - the name the decorators are written with
    @staticmethod
    def viper(function):
        return function

    native = viper

    @staticmethod
    def const(value):
        return value


def ptr8(buffer):
    """The buffer itself (``mac`` sign-extends its values whether they read signed or not)."""
    return buffer


def ptr32(buffer):
    """The buffer itself (viper reads non-negative words only here)."""
    return buffer
