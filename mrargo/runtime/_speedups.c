/* mrargo.runtime._speedups: the map side's per-pair loop, in C.
 *
 * A map task with a combiner puts every pair its mapper yields into a dict
 * of lists, key -> values.  In Python that is a bytecode loop, a tuple
 * unpack and a method call per pair, which cost more than the user's own
 * mapper.  group_pairs() does the same work in C for the common case (an
 * exact 2-tuple whose key is an exact str) and hands anything else back to
 * the Python loop, which keeps the one definition of every other case and
 * of every error message.
 *
 * The build is optional: without a C compiler mrargo uses the Python loop,
 * and the output is byte-identical either way (tests/test_speedups.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* Values that equal each other only when their encodings are equal, so
 * that identical pairs may be counted instead of kept: 1 == 1.0 == True,
 * and counting those together would change a value's type. */
static PyObject *one; /* the int 1, made once */

/* The value 1 as an exact int (small ints are shared, so this is almost
 * always a pointer test).  True == 1 too, but it is a bool. */
static inline int
is_one(PyObject *v)
{
    if (v == one)
        return 1;
    if (!PyLong_CheckExact(v))
        return 0;
    int overflow;
    return PyLong_AsLongAndOverflow(v, &overflow) == 1 && !overflow;
}

/* group_pairs(ones, groups, pairs, limit, taken) -> leftover
 *
 * Moves up to `limit` pairs from the iterator `pairs` into the map side's
 * two tables.  A (str, 1) tuple is counted in `ones` (dict: str -> int),
 * so the millions of pairs of a count cost one dict update each and no
 * memory; any other (str, value) tuple appends its value to `groups`
 * (dict: str -> list).  Returns
 *   - None when the iterator is exhausted,
 *   - Ellipsis when `limit` pairs were taken (the caller checks its
 *     memory budget, then calls again),
 *   - any other item: the first one whose key is not an exact str, or
 *     that is not a 2-tuple; the caller handles it and calls again.
 * `taken` is a list [pairs moved, of which appended to groups], increased
 * also when the iterator raises, so counters stay exact.
 */
static PyObject *
group_pairs(PyObject *self, PyObject *args)
{
    PyObject *ones, *groups, *pairs, *taken;
    Py_ssize_t limit, n = 0, appended = 0;
    PyObject *result = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "O!O!OnO!", &PyDict_Type, &ones, &PyDict_Type, &groups, &pairs, &limit, &PyList_Type, &taken))
        return NULL;
    if (!PyIter_Check(pairs)) {
        PyErr_SetString(PyExc_TypeError, "group_pairs: pairs must be an iterator");
        return NULL;
    }
    if (PyList_GET_SIZE(taken) != 2) {
        PyErr_SetString(PyExc_ValueError, "group_pairs: taken must hold two ints");
        return NULL;
    }
    iternextfunc next = Py_TYPE(pairs)->tp_iternext;

    while (n < limit) {
        PyObject *item = next(pairs);
        if (item == NULL) {
            if (PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_StopIteration))
                    goto done; /* the mapper raised: result stays NULL */
                PyErr_Clear();
            }
            result = Py_NewRef(Py_None);
            goto done;
        }
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0))) {
            result = item; /* the caller's problem; our reference passes to it */
            goto done;
        }
        PyObject *key = PyTuple_GET_ITEM(item, 0);
        PyObject *value = PyTuple_GET_ITEM(item, 1);
        int rc, counted = is_one(value);
        if (counted) {
            PyObject *count = PyDict_GetItemWithError(ones, key); /* borrowed */
            if (count == NULL) {
                rc = PyErr_Occurred() ? -1 : PyDict_SetItem(ones, key, one);
            }
            else {
                PyObject *more = PyNumber_Add(count, one);
                rc = more == NULL ? -1 : PyDict_SetItem(ones, key, more);
                Py_XDECREF(more);
            }
        }
        else {
            PyObject *values = PyDict_GetItemWithError(groups, key); /* borrowed */
            if (values == NULL) {
                rc = -1;
                if (!PyErr_Occurred()) {
                    values = PyList_New(1);
                    if (values != NULL) {
                        PyList_SET_ITEM(values, 0, Py_NewRef(value));
                        rc = PyDict_SetItem(groups, key, values);
                        Py_DECREF(values);
                    }
                }
            }
            else if (!PyList_CheckExact(values)) {
                PyErr_SetString(PyExc_TypeError, "group_pairs: groups must map keys to lists");
                rc = -1;
            }
            else {
                rc = PyList_Append(values, value);
            }
        }
        Py_DECREF(item);
        if (rc < 0)
            goto done;
        n++;
        appended += !counted;
    }
    result = Py_NewRef(Py_Ellipsis);

done:
    if (n) {
        /* Keep an exception the mapper raised while the counts are added. */
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        Py_ssize_t add[2] = {n, appended};
        for (int i = 0; i < 2; i++) {
            PyObject *delta = PyLong_FromSsize_t(add[i]);
            PyObject *sum = delta ? PyNumber_Add(PyList_GET_ITEM(taken, i), delta) : NULL;
            Py_XDECREF(delta);
            if (sum == NULL) {
                Py_XDECREF(type);
                Py_XDECREF(exc);
                Py_XDECREF(tb);
                Py_XDECREF(result);
                return NULL;
            }
            PyList_SetItem(taken, i, sum); /* steals sum, drops the old count */
        }
        PyErr_Restore(type, exc, tb);
    }
    return result;
}

static PyMethodDef methods[] = {
    {"group_pairs", group_pairs, METH_VARARGS, "Count (str, 1) pairs and group other (str, value) pairs from an iterator."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mrargo.runtime._speedups", "The map side's per-pair loop, in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    one = PyLong_FromLong(1);
    if (one == NULL)
        return NULL;
    return PyModule_Create(&module);
}
