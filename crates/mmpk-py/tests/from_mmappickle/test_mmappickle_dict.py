"""mmappickle 1.0's own test suite (tests/test_dict.py of its repository),
ported to ``mmpk.mmappickle``: every test of its public API, with the import
changed and nothing else, except where a comment says why.

Not ported: ``TestKvdata`` (mmappickle's private ``_kvdata`` entry writer,
which mmpk replaces). The tests that looked at the private ``_header``
(``test_creation``, ``test_commit_number``) check the same through the
public API.

(This folder is not named ``mmappickle``: the test runner puts ``tests/`` on
``sys.path``, where a folder of that name would stand in for the real
package wherever it is not installed.)
"""

import io
import os
import pickle
import pickletools
import tempfile
import unittest

import numpy
import numpy.testing

from mmpk.mmappickle import mmapdict
from mmpk.mmappickle.picklers.base import GenericPickler
from mmpk.mmappickle.picklers.numpy import ArrayPickler, MaskedArrayPickler
from mmpk.mmappickle.stubs.numpy import EmptyNDArray


class TestDictBase(unittest.TestCase):
    def test_creation(self):
        # Was: m._header.is_valid(). The file is an empty dict.
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            f.seek(0)
            self.assertEqual(pickle.load(f), {})
            self.assertEqual(m.commit_number, 0)

    def test_commit_number(self):
        # Was: m._header.commit_number (the public property sets the same).
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            self.assertEqual(m.commit_number, 0)

            m.commit_number = 32
            self.assertEqual(m.commit_number, 32)

            m.commit_number = 465468
            self.assertEqual(m.commit_number, 465468)

            with self.assertRaises(TypeError):
                m.commit_number = "a"
            self.assertEqual(m.commit_number, 465468)
            # The header stays valid.
            f.seek(0)
            self.assertEqual(pickle.load(f), {})

    def test_valid_pickle(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])  # noqa: F841
            f.seek(0)

            d = pickle.load(f)
            self.assertDictEqual(d, {})

    def test_destructor(self):
        import weakref

        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            m_ref = weakref.ref(m)
            del m

        self.assertIsNone(
            m_ref(),
            "Reference to object is still valid, something is wrong "
            "(using object instance instead of weakref.ref?)",
        )

    def test_nonexistent(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()
            os.unlink(f.name)

            with self.assertRaises(FileNotFoundError):
                m = mmapdict(f.name, True, picklers=[GenericPickler])
            # This works and re-create the file
            m = mmapdict(f.name, False, picklers=[GenericPickler])

            del m
            os.unlink(f.name)

    def test_notafile(self):
        with self.assertRaises(TypeError):
            mmapdict({}, picklers=[GenericPickler])

    def test_readonly(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()

            m = mmapdict(f.name, picklers=[GenericPickler])
            m["test1"] = 234
            self.assertTrue(m.writable)

            m2 = mmapdict(f.name, True, picklers=[GenericPickler])
            self.assertFalse(m2.writable)
            with self.assertRaises(io.UnsupportedOperation):
                m2["test1"] = 123
            with self.assertRaises(io.UnsupportedOperation):
                m2["test2"] = 123
            with self.assertRaises(io.UnsupportedOperation):
                del m2["test1"]
            del m, m2
            os.unlink(f.name)

    def test_convert(self):
        with tempfile.NamedTemporaryFile() as f:
            v = {"abc": 123}
            pickle.dump(v, f)
            f.flush()

            m = mmapdict(f, picklers=[GenericPickler])
            assert dict(m) == v

    def test_put_opcodes(self):
        import itertools
        import string

        d_vals = {}
        for s in itertools.product(string.ascii_letters, string.ascii_letters):
            s = "".join(s)
            d_vals[s] = s

        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            for i in range(5):
                m[f"test-{i}"] = d_vals
            for i in range(5):
                self.assertDictEqual(m[f"test-{i}"], d_vals)

    def _test_bad_file(self, d, exc=None):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.write(d)
            f.flush()
            f.close()

            if exc is not None:
                with self.assertRaises(exc):
                    mmapdict(f.name, picklers=[GenericPickler])
            else:
                mmapdict(f.name, picklers=[GenericPickler])

            # (Added) A refused file is left as it was.
            with open(f.name, "rb") as g:
                self.assertEqual(g.read(), d)
            os.unlink(f.name)

    def test_bad_file_header_1(self):
        self._test_bad_file(b"\x80", ValueError)

    def test_bad_file_header_2(self):
        self._test_bad_file(b"\x81\x04", ValueError)

    def test_bad_file_header_3(self):
        self._test_bad_file(b"\x80\x03", ValueError)

    def test_bad_file_header_4(self):
        self._test_bad_file(b"\x80\x04\x00", ValueError)

    def test_bad_file_header_5(self):
        self._test_bad_file(b"\x80\x04\x95", ValueError)

    def test_bad_file_header_6(self):
        self._test_bad_file(b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00", ValueError)

    def test_bad_file_header_7(self):
        self._test_bad_file(b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00", ValueError)

    def test_bad_file_header_8(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00111110111111111", ValueError
        )

    def test_bad_file_header_9(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00J11111111111111", ValueError
        )

    def test_bad_file_header_10(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00J11110111111111", ValueError
        )

    def test_bad_file_header_11(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x000X\x01\x00\x00\x0001",
            ValueError,
        )

    def test_bad_file_header_12(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x000J\x01\x00\x00\x0011",
            ValueError,
        )

    def test_bad_file_header_13(self):
        self._test_bad_file(
            b"\x80\x04\x95\x0d\x00\x00\x00\x00\x00\x00\x00J\x01\x00\x00\x000J\x01\x00\x00\x0001",
            ValueError,
        )


class TestDict(unittest.TestCase):
    def _dump_file(self, f):
        f.seek(0, io.SEEK_SET)
        pickletools.dis(f)

    def test_notpicklable(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[])
            with self.assertRaises(TypeError):
                m["test"] = "abc"

    def test_notreadable(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            m["test"] = "abc"

            m = mmapdict(f, picklers=[])
            with self.assertRaises(ValueError):
                m["test"] == "abc"  # noqa: B015

    def test_nonexistentkey(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            with self.assertRaises(KeyError):
                del m["test"]
            with self.assertRaises(KeyError):
                m["test"]

    def test_empty(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])  # noqa: F841

            f.seek(0)
            d = pickle.load(f)
            self.assertDictEqual(d, {})

    def test_store_simple(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            m["test"] = "abc"
            with self.assertRaises(TypeError):
                m[1] = "aaa"

            self.assertEqual(m["test"], "abc")
            d = pickle.load(f)
            self.assertDictEqual(d, {"test": "abc"})

    def test_readonly(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()

            m = mmapdict(f.name, picklers=[GenericPickler])
            m["test"] = "abc"
            self.assertEqual(m["test"], "abc")
            del m

            m2 = mmapdict(f.name, readonly=True, picklers=[GenericPickler])
            self.assertEqual(m2["test"], "abc")
            del m2

            os.unlink(f.name)

    def test_store_ref(self):
        with tempfile.TemporaryFile() as f:
            obj = "1234"
            obj2 = "machin"
            dict_a = {obj: obj, "3": obj}
            dict_b = {obj: obj2, obj2: obj2, 2: 4, 4: obj}
            m = mmapdict(f)
            m["dict_a"] = dict_a
            m["dict_b"] = dict_b

            self.assertEqual(m["dict_a"], dict_a)
            self.assertEqual(m["dict_b"], dict_b)
            d = pickle.load(f)
            self.assertDictEqual(d, {"dict_a": dict_a, "dict_b": dict_b})

            import collections

            od = collections.OrderedDict()
            od["obj"] = obj
            od["obj2"] = obj2
            od[obj] = 3
            m["od"] = od

            # This should not fail, but will have no effect
            m["od"]["machin"] = "abc"

            self.assertEqual(m["od"], od)
            f.seek(0, io.SEEK_SET)
            d = pickle.load(f)

            m["od"] = "abc"

            self.assertEqual(m["od"], "abc")

            f.seek(0, io.SEEK_SET)
            d = pickle.load(f)
            self.assertEqual(d["od"], "abc")

    def test_delitem(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            m["test"] = "abc"
            self.assertEqual(m["test"], "abc")

            del m["test"]
            with self.assertRaises(KeyError):
                print(m["test"])

            # reset
            m = mmapdict(f)
            with self.assertRaises(KeyError):
                print(m["test"])

            f.seek(0, io.SEEK_SET)
            d = pickle.load(f)
            self.assertDictEqual(d, {})


class TestDictNumpyArray(unittest.TestCase):
    def _dump_file(self, f):
        f.seek(0, io.SEEK_SET)
        pickletools.dis(f)

    def test_store_simple(self):
        with tempfile.TemporaryFile() as f:
            data = numpy.array([[1, 2, 3], [4, 5, 6]])
            m = mmapdict(f, picklers=[ArrayPickler, GenericPickler])
            m["test"] = data
            self.assertIsInstance(m["test"], numpy.memmap)
            numpy.testing.assert_array_equal(m["test"], data)
            f.seek(0)
            d = pickle.load(f)
            numpy.testing.assert_array_equal(d["test"], data)

    def test_store_empty(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[ArrayPickler])
            m["test"] = EmptyNDArray((10, 9), dtype=numpy.float32)

            self.assertIsInstance(m["test"], numpy.memmap)
            self.assertEqual(m["test"].shape, (10, 9))

    def test_store_dims(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[ArrayPickler])
            for i in range(1, 9):
                m[f"test{i}"] = numpy.zeros(tuple([1] * i), dtype=numpy.float32)

            for i in range(1, 9):
                self.assertEqual(m[f"test{i}"].ndim, i)

    def test_store_masked(self):
        with tempfile.TemporaryFile() as f:
            data = numpy.ma.MaskedArray(
                [[1, 2, 3], [4, 5, 6]], [[False, True, False], [True, False, True]]
            )
            m = mmapdict(f, picklers=[MaskedArrayPickler])
            m["test"] = data
            self.assertIsInstance(m["test"].data, numpy.memmap)
            self.assertIsInstance(m["test"].mask, numpy.memmap)
            numpy.testing.assert_array_equal(m["test"], data)
            f.seek(0)
            d = pickle.load(f)
            numpy.testing.assert_array_equal(d["test"], data)

    def test_masked_bug(self):
        with tempfile.TemporaryFile() as f:
            data = numpy.random.rand(100)
            data = numpy.ma.masked_invalid(data)
            m = mmapdict(f, picklers=[MaskedArrayPickler])
            m["test"] = data
            self.assertIsInstance(m["test"].data, numpy.memmap)
            self.assertIsInstance(m["test"].mask, numpy.memmap)
            numpy.testing.assert_array_equal(m["test"], data)
            f.seek(0)
            d = pickle.load(f)
            numpy.testing.assert_array_equal(d["test"], data)

    def test_masked_empty(self):
        with tempfile.TemporaryFile() as f:
            data = numpy.ma.zeros([2, 3], dtype=numpy.int64)
            m = mmapdict(f, picklers=[MaskedArrayPickler, ArrayPickler, GenericPickler])
            m["test"] = data
            self.assertIsInstance(m["test"], numpy.ma.masked_array)
            self.assertIsInstance(m["test"].data, numpy.memmap)
            self.assertIsInstance(m["test"].mask, numpy.memmap)
            numpy.testing.assert_array_equal(m["test"], data)
            d = pickle.load(f)
            numpy.testing.assert_array_equal(d["test"], data)

    def test_readonly(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()

            m = mmapdict(f.name, picklers=[ArrayPickler])
            m["test"] = numpy.zeros((1,), dtype=numpy.float32)

            m2 = mmapdict(f.name, True, picklers=[ArrayPickler])
            with self.assertRaises(ValueError):
                m2["test"][0] = 2

            del m
            del m2
            os.unlink(f.name)


def _tc_increment(args):
    m, idx = args
    m["value"][idx] += 1


class TestConcurrent(unittest.TestCase):
    def test_concurrent_1(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()

            m = mmapdict(f.name)
            # Was numpy.float, which numpy 1.24 removed (numpy's change, not
            # mmappickle's): the same dtype.
            m["value"] = numpy.zeros((4,), numpy.float64)

            import itertools
            import multiprocessing

            with multiprocessing.Pool(4) as p:
                p.map(_tc_increment, itertools.product([m], range(4)))

            self.assertEqual(m["value"][0], 1)
            self.assertEqual(m["value"][1], 1)
            self.assertEqual(m["value"][2], 1)
            self.assertEqual(m["value"][3], 1)

            del m

            os.unlink(f.name)

    def test_concurrent_mmapdict_pickle(self):
        with tempfile.NamedTemporaryFile(delete=False) as f:
            f.close()

            m = mmapdict(f.name)

            m2 = pickle.loads(pickle.dumps(m))

            del m
            del m2

            os.unlink(f.name)


class TestVacuum(unittest.TestCase):
    def _dump_file(self, f):
        f.seek(0, io.SEEK_SET)
        pickletools.dis(f)

    def test_vacuum(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f, picklers=[GenericPickler])
            m["a"] = 1
            m["b"] = 2
            m["c"] = 3
            m["d"] = " " * 2 * 1024 * 1024
            m["e"] = 5
            m["f"] = 6
            m["g"] = 7
            m["h"] = 8

            f.seek(0, io.SEEK_END)
            fsizebefore = f.tell()

            del m["b"]
            del m["d"]
            del m["f"]
            del m["g"]

            f.seek(0, io.SEEK_SET)
            valid_dict = pickle.load(f)

            self.assertDictEqual(dict(m), valid_dict)

            f.seek(0, io.SEEK_END)
            fsizeafterdel = f.tell()

            self.assertEqual(fsizebefore, fsizeafterdel)
            old_commit_number = m.commit_number

            m.vacuum()

            f.seek(0, io.SEEK_END)
            fsizeaftervacuum = f.tell()

            self.assertNotEqual(fsizebefore, fsizeaftervacuum)
            self.assertNotEqual(old_commit_number, m.commit_number)
            self.assertDictEqual(dict(m), valid_dict)

            m.commit_number = 143
            m.vacuum()
            self.assertEqual(143, m.commit_number)

            # We have to do something otherwise the vacuum won't do anything
            del m["a"]
            m.commit_number = 0
            m.vacuum()
            self.assertNotEqual(0, m.commit_number)


class TestConvert(unittest.TestCase):
    def _dump_file(self, f):
        f.seek(0, io.SEEK_SET)
        pickletools.dis(f)

    def test_convert(self):
        with tempfile.TemporaryFile() as f:
            d = {
                "a": 1,
                "b": (1, 2, 3),
                "c": "test",
            }
            pickle.dump(d, f)

            m = mmapdict(f, picklers=[GenericPickler])
            self.assertDictEqual(dict(m), d)

    def test_convert_not_possible(self):
        with tempfile.TemporaryFile() as f:
            d = "abc"
            pickle.dump(d, f)

            with self.assertRaises(ValueError):
                mmapdict(f, picklers=[GenericPickler])

    def test_broken(self):
        with tempfile.TemporaryFile() as f:
            m = mmapdict(f)
            m["a"] = 1
            m["b"] = (1, 2, 3)
            m["c"] = "test"

            f.seek(0, io.SEEK_END)
            original_size = f.tell()
            original_dict = dict(m)

            f.seek(0, io.SEEK_END)

            self.assertDictEqual(original_dict, dict(m))
            self.assertEqual(original_size, f.tell())
            # Was range(1, 13). Cutting 12 bytes cuts the terminator (11
            # bytes) and the last byte of the entry of "c". mmappickle 1.0.1
            # "keeps" "c" by writing the new terminator's first byte in
            # place of that last byte, which leaves a file plain
            # pickle.load cannot read; mmpk drops the incomplete entry, as
            # mmappickle does from 14 bytes on (below).
            for i in range(1, 12):
                del m

                f.truncate(original_size - i)

                m = mmapdict(f)
                m.fsck()

                f.seek(0, io.SEEK_END)

                self.assertDictEqual(original_dict, dict(m))
                self.assertEqual(original_size, f.tell())
                # (Added) The repaired file is a valid pickle again.
                f.seek(0)
                self.assertDictEqual(pickle.load(f), original_dict)

            # We loose one key...
            del original_dict["c"]
            for i in range(12, 20):  # Was range(14, 20): see above.
                del m

                f.truncate(original_size - i)

                m = mmapdict(f)
                m.fsck()

                f.seek(0, io.SEEK_END)

                self.assertDictEqual(original_dict, dict(m))
                f.seek(0)
                self.assertDictEqual(pickle.load(f), original_dict)


if __name__ == "__main__":
    unittest.main()
