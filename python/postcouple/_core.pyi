# Type stubs for the compiled module postcouple._core.
# tests/test_stub.py checks that every public name here exists in the module and
# vice versa. Users import the wrappers (postcouple.advantages, .packing, .rewards).

__version__: str
