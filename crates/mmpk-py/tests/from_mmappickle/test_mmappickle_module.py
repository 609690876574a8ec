"""mmappickle 1.0's tests/test_module.py, ported to ``mmpk.mmappickle``.

Not ported: tests/test_without_numpy.py (importing mmappickle without
numpy): numpy is a dependency of mmpk.
"""

import re
import tempfile
import unittest


class TestModule(unittest.TestCase):
    def test_version_is_canonical(self):
        import mmpk.mmappickle as mmappickle

        # Regex from PEP-440
        self.assertIsNotNone(
            re.match(
                r"^([1-9]\d*!)?(0|[1-9]\d*)(\.(0|[1-9]\d*))*((a|b|rc)(0|[1-9]\d*))?"
                r"(\.post(0|[1-9]\d*))?(\.dev(0|[1-9]\d*))?$",
                mmappickle.__version__,
            )
        )

    def test_picklersdiscovery(self):
        from mmpk.mmappickle.dict import mmapdict
        from mmpk.mmappickle.picklers import GenericPickler

        class TestPickler(GenericPickler):
            pass

        with tempfile.TemporaryFile() as f:
            m = mmapdict(f)
            self.assertIn(True, [x.__class__.__name__ == "TestPickler" for x in m._picklers])


if __name__ == "__main__":
    unittest.main()
