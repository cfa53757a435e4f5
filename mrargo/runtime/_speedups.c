/* mrargo.runtime._speedups: the hot loops of map and reduce tasks, in C.
 *
 * A map task with a combiner puts every pair its mapper yields into a dict
 * of lists, key -> values.  In Python that is a bytecode loop, a tuple
 * unpack and a method call per pair, which cost more than the user's own
 * mapper.  group_pairs() does the same work in C for the common case (an
 * exact 2-tuple whose key is an exact str) and hands anything else back to
 * the Python loop, which keeps the one definition of every other case and
 * of every error message.  The rest follow the same rule: bucket_pairs
 * and Records finish a map task; merge_runs, decode_value and
 * dumps_text are a reduce task's merge, value decoding and output text.
 *
 * The build is optional: without a C compiler mrargo uses the Python loop,
 * and the output is byte-identical either way (tests/test_speedups.py).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <sys/mman.h>
#endif

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


/* ---- GroupTable: a map task's waiting pairs with str keys ---------------
 *
 * For each str key: how many times it came with the value 1, and its other
 * values, in the order they came.  A dict str -> int costs four cache
 * misses a pair on a large vocabulary: its index, its entry, the stored
 * key's characters (the mapper's word is a new object every time) and the
 * old count, plus a new int and a second lookup to store it; a dict of
 * lists costs as much, and then the list and its last item.  This
 * open-addressing table keeps the hash, the length, the count, the list,
 * the last run of equal values and, for short one-byte-kind strings, the
 * characters themselves in one 64-byte slot, so a pair costs about one
 * miss, fetched ahead.  It is not tracked by the garbage collector: the
 * values it holds are, and a cycle among them lasts until take() or
 * clear() lets them go.  items() and take() come in slot order: only the
 * order of combiner calls depends on it, never the output (map outputs
 * are sorted).
 */
#define INLINE_CHARS 11

/* One cache line.  A key's other values wait in its list, except the
 * last run of equal ones, which waits in the slot itself (tail, tail_n)
 * until a different value comes: an index appends the same file name to
 * a word line after line, and reading the list and its last item for
 * each cost two cache misses a pair. */
typedef struct {
    Py_hash_t hash;
    PyObject *key; /* NULL: an empty slot */
    Py_ssize_t count; /* how many times the key came with 1 */
    PyObject *values; /* the key's other values before the tail (a list), or NULL */
    PyObject *tail; /* the last value appended, or NULL */
    Py_ssize_t tail_n; /* how many times in a row it came (1 for a value that never repeats) */
    uint32_t len; /* the key's length, UINT32_MAX for that or longer */
    unsigned char kind; /* PyUnicode_KIND of the key; chars are inline when kind 1 and len <= INLINE_CHARS */
    unsigned char chars[INLINE_CHARS];
} Slot;

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(Slot) == 64, "a slot is one cache line");
#endif

typedef struct {
    PyObject_HEAD
    Slot *slots;
    Py_ssize_t cap; /* a power of two, or 0 */
    Py_ssize_t used;
    PyObject *last; /* borrowed: the value appended last, for the memory estimate's sample, or NULL */
} GroupTable;

static PyTypeObject GroupTableType;
static inline int same_plain(PyObject *a, PyObject *b);
static PyObject *new_repeat(PyObject *value, Py_ssize_t n);

/* Slot arrays of this size or more are aligned to it and asked to live in
 * huge pages: a count of 180k words fills 28 MiB (2^19 slots), and with 4 KiB pages a
 * pair's slot was a TLB miss as well as a cache miss (prefetching it stalled
 * on the page walk).  The kernel may refuse; the table works either way. */
#define HUGE_SLOTS ((size_t)2 << 20)

static Slot *
slots_alloc(Py_ssize_t cap)
{
    size_t bytes = (size_t)cap * sizeof(Slot);
#ifndef _WIN32
    /* Aligned to a slot, so that each is one cache line. */
    void *p = NULL;
    if (posix_memalign(&p, bytes >= HUGE_SLOTS ? HUGE_SLOTS : sizeof(Slot), bytes) != 0)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE_SLOTS)
        madvise(p, bytes, MADV_HUGEPAGE);
#endif
    memset(p, 0, bytes);
    return p;
#else
    return PyMem_Calloc((size_t)cap, sizeof(Slot));
#endif
}

static void
slots_free(Slot *slots, Py_ssize_t cap)
{
    (void)cap;
#ifndef _WIN32
    free(slots);
#else
    PyMem_Free(slots);
#endif
}

static int
table_resize(GroupTable *t, Py_ssize_t cap)
{
    Slot *slots = slots_alloc(cap);
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    size_t mask = (size_t)cap - 1;
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        if (t->slots[i].key == NULL)
            continue;
        size_t j = (size_t)t->slots[i].hash & mask;
        while (slots[j].key != NULL)
            j = (j + 1) & mask;
        slots[j] = t->slots[i];
    }
    slots_free(t->slots, t->cap);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* The table's own hash of a str key.  Every word a mapper yields is a new
 * str whose hash is not yet computed, and str's SipHash cost about 9 ns a
 * pair; for one-byte-kind strings, the table mixes their 8-byte words
 * with a keyed 64x64->128-bit multiply (wyhash's "mum"), both keys from
 * Python's hash secret, so PYTHONHASHSEED randomizes it too.  Keyed, not
 * just seeded: an earlier multiply-xorshift let crafted words collide
 * whatever the seed (bit 63 passed through it untouched), and 65k of them
 * took 15 s to count.  Equal strings always have the same kind, so the
 * two hashes never meet.  Only the order of items() depends on it, never
 * the output.  Without 128-bit integers, SipHash it is. */
#if defined(__SIZEOF_INT128__)
static inline uint64_t
mum(uint64_t a, uint64_t b)
{
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline Py_hash_t
key_hash(PyObject *key)
{
    if (PyUnicode_KIND(key) != PyUnicode_1BYTE_KIND)
        return PyObject_Hash(key);
    const uint64_t k0 = _Py_HashSecret.siphash.k0, k1 = _Py_HashSecret.siphash.k1;
    const unsigned char *p = PyUnicode_1BYTE_DATA(key);
    size_t n = (size_t)PyUnicode_GET_LENGTH(key), len = n;
    uint64_t h = k0 ^ 0x9E3779B97F4A7C15ULL;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mum(w ^ k1 ^ 0xa0761d6478bd642fULL, h ^ 0xe7037ed1a0b428dbULL);
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = mum(w ^ k1 ^ 0xa0761d6478bd642fULL, h ^ 0xe7037ed1a0b428dbULL);
    }
    h = mum(h ^ (uint64_t)len ^ 0x8ebc6af09c88c6e3ULL, k0 ^ 0x589965cc75374cc3ULL);
    return (Py_hash_t)(h >> 1); /* never -1: that is PyObject_Hash's error */
}
#else
static inline Py_hash_t
key_hash(PyObject *key)
{
    return PyObject_Hash(key);
}
#endif

/* _key_hash(s): the table's hash of an exact str (for tests). */
static PyObject *
key_hash_py(PyObject *self, PyObject *s)
{
    (void)self;
    if (!PyUnicode_CheckExact(s)) {
        PyErr_SetString(PyExc_TypeError, "_key_hash: an exact str");
        return NULL;
    }
    Py_hash_t h = key_hash(s);
    return h == -1 ? NULL : PyLong_FromSsize_t(h);
}

/* The slot of key (an exact str; hash: key_hash(key)), added with a count
 * of 0 and no values if it is new; NULL on error. */
static Slot *
table_slot(GroupTable *t, PyObject *key, Py_hash_t hash)
{
    if (t->cap == 0 && table_resize(t, 1 << 12) < 0)
        return NULL;
    Py_ssize_t len = PyUnicode_GET_LENGTH(key);
    uint32_t len32 = len < (Py_ssize_t)UINT32_MAX ? (uint32_t)len : UINT32_MAX;
    int kind = PyUnicode_KIND(key);
    const void *data = PyUnicode_DATA(key);
    size_t mask = (size_t)t->cap - 1, j = (size_t)hash & mask;
    for (;;) {
        Slot *s = &t->slots[j];
        if (s->key == NULL)
            break;
        if (s->hash == hash && s->len == len32 && s->kind == kind && (len32 < UINT32_MAX || PyUnicode_GET_LENGTH(s->key) == len)) {
            const void *have = (kind == 1 && len <= INLINE_CHARS) ? (const void *)s->chars : PyUnicode_DATA(s->key);
            if (s->key == key || memcmp(have, data, (size_t)len * (size_t)kind) == 0)
                return s;
        }
        j = (j + 1) & mask;
    }
    /* Grow past 70% full, not 50%: every new slot array is fresh memory
     * the kernel zeroes page by page (a 20.6 MB word count spent 4% of
     * its CPU there), and a task's 135k words then fit 2^18 slots instead
     * of 2^19.  Its grouping went from 0.097 to 0.075 CPU s; at 50 MB a
     * task (200k words, 2^19 slots either way) nothing changed.  Grown
     * before the key goes in, so the slot returned stays where it is. */
    if ((t->used + 1) * 10 > t->cap * 7) {
        if (table_resize(t, t->cap * 2) < 0)
            return NULL;
        mask = (size_t)t->cap - 1;
        for (j = (size_t)hash & mask; t->slots[j].key != NULL; j = (j + 1) & mask)
            ;
    }
    Slot *s = &t->slots[j];
    s->key = Py_NewRef(key);
    s->hash = hash;
    s->count = 0;
    s->values = NULL;
    s->tail = NULL;
    s->tail_n = 0;
    s->len = len32;
    s->kind = (unsigned char)kind;
    if (kind == 1 && len <= INLINE_CHARS)
        memcpy(s->chars, data, (size_t)len);
    t->used++;
    return s;
}

/* Add n to key's count (key: an exact str; hash: key_hash(key)). */
static int
table_add_hashed(GroupTable *t, PyObject *key, Py_hash_t hash, Py_ssize_t n)
{
    Slot *s = table_slot(t, key, hash);
    if (s == NULL)
        return -1;
    s->count += n;
    return 0;
}

/* Move a slot's tail into its list (as Repeat(tail, n) for a run); 0, or -1 on error. */
static int
flush_tail(Slot *s)
{
    if (s->tail == NULL)
        return 0;
    PyObject *v = s->tail_n > 1 ? new_repeat(s->tail, s->tail_n) : Py_NewRef(s->tail);
    if (v == NULL)
        return -1;
    if (s->values == NULL) {
        s->values = PyList_New(0);
        if (s->values == NULL) {
            Py_DECREF(v);
            return -1;
        }
    }
    int rc = PyList_Append(s->values, v);
    Py_DECREF(v);
    if (rc < 0)
        return -1;
    Py_CLEAR(s->tail);
    s->tail_n = 0;
    return 0;
}

/* Append value to key's waiting values (key: an exact str; hash:
 * key_hash(key)).  1 if that took a new list slot, 0 if a repeat grew
 * (append_value's rule: equal exact strs or ints), -1 on error. */
static int
table_append_hashed(GroupTable *t, PyObject *key, Py_hash_t hash, PyObject *value)
{
    Slot *s = table_slot(t, key, hash);
    if (s == NULL)
        return -1;
    if (s->tail != NULL && same_plain(s->tail, value)) {
        s->tail_n++;
        t->last = s->tail; /* borrowed: the slot holds it (value may be an equal other object) */
        return 0;
    }
    if (flush_tail(s) < 0)
        return -1;
    s->tail = Py_NewRef(value);
    s->tail_n = 1;
    t->last = s->tail;
    return 1;
}

static int
table_add(GroupTable *t, PyObject *key, Py_ssize_t n)
{
    Py_hash_t hash = key_hash(key);
    return hash == -1 ? -1 : table_add_hashed(t, key, hash, n);
}

/* Start fetching the slot where key's probe begins (key: an exact str),
 * and return its hash (-1 with an error set, which a str's hash never
 * is).  A hint only: a resize before the key is added makes it useless,
 * never wrong. */
static inline Py_hash_t
table_prefetch(GroupTable *t, PyObject *key)
{
    Py_hash_t hash = key_hash(key);
    if (hash == -1 || t->cap == 0)
        return hash;
    const char *slot = (const char *)&t->slots[(size_t)hash & ((size_t)t->cap - 1)];
    __builtin_prefetch(slot);
    return hash;
}

static void
table_clear_slots(GroupTable *t)
{
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Py_CLEAR(t->slots[i].key);
        Py_CLEAR(t->slots[i].values);
        Py_CLEAR(t->slots[i].tail);
    }
    t->last = NULL;
    slots_free(t->slots, t->cap);
    t->slots = NULL;
    t->cap = 0;
    t->used = 0;
}

static void
table_dealloc(GroupTable *t)
{
    table_clear_slots(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static Py_ssize_t
table_len(GroupTable *t)
{
    return t->used;
}

static PyObject *
table_add_py(GroupTable *t, PyObject *args)
{
    PyObject *key;
    Py_ssize_t n = 1;
    if (!PyArg_ParseTuple(args, "U|n", &key, &n))
        return NULL;
    if (!PyUnicode_CheckExact(key)) {
        PyErr_SetString(PyExc_TypeError, "GroupTable.add: keys must be exact str");
        return NULL;
    }
    if (table_add(t, key, n) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
table_items(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Slot *s = &t->slots[i];
        if (s->key == NULL || s->count == 0)
            continue;
        PyObject *count = PyLong_FromSsize_t(s->count);
        PyObject *item = count ? PyTuple_New(2) : NULL;
        if (item == NULL) {
            Py_XDECREF(count);
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(item, 0, Py_NewRef(s->key));
        PyTuple_SET_ITEM(item, 1, count);
        int rc = PyList_Append(out, item);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* A new reference to a (key, x) tuple. */
static PyObject *
key_pair(PyObject *key, PyObject *x)
{
    PyObject *item = PyTuple_New(2);
    if (item == NULL)
        return NULL;
    PyTuple_SET_ITEM(item, 0, Py_NewRef(key));
    PyTuple_SET_ITEM(item, 1, Py_NewRef(x));
    return item;
}

/* take() -> (counted, single, grouped), emptying the table.  counted:
 * (key, count) for each key with only 1s; single: (key, value) for each
 * key with one value, not 1, which passes the combiner by (an index's
 * words seen in one line: 40% of a line index's keys, which then need no
 * list); grouped: (key, values) for every other key, its 1s first in its
 * list (1, or Repeat(1, n)). */
static PyObject *
table_take(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    PyObject *counted = PyList_New(0), *single = PyList_New(0), *grouped = PyList_New(0), *out = NULL;
    if (counted == NULL || single == NULL || grouped == NULL)
        goto done;
    for (Py_ssize_t i = 0; i < t->cap; i++) {
        Slot *s = &t->slots[i];
        if (s->key == NULL)
            continue;
        PyObject *item, *into = grouped;
        if (s->count == 0 && s->values == NULL && s->tail_n == 1) {
            item = key_pair(s->key, s->tail);
            into = single;
        }
        else if (flush_tail(s) < 0)
            goto done;
        else if (s->values == NULL) {
            PyObject *count = PyLong_FromSsize_t(s->count);
            if (count == NULL)
                goto done;
            item = key_pair(s->key, count);
            Py_DECREF(count);
            into = counted;
        }
        else {
            if (s->count > 0) {
                PyObject *ones = s->count > 1 ? new_repeat(one, s->count) : Py_NewRef(one);
                int rc = ones == NULL ? -1 : PyList_Insert(s->values, 0, ones);
                Py_XDECREF(ones);
                if (rc < 0)
                    goto done;
                s->count = 0; /* in the list now */
            }
            item = key_pair(s->key, s->values);
        }
        if (item == NULL)
            goto done;
        int rc = PyList_Append(into, item);
        Py_DECREF(item);
        if (rc < 0)
            goto done;
    }
    out = PyTuple_Pack(3, counted, single, grouped);
    if (out != NULL)
        table_clear_slots(t);
done:
    Py_XDECREF(counted);
    Py_XDECREF(single);
    Py_XDECREF(grouped);
    return out;
}

static PyObject *
table_append_py(GroupTable *t, PyObject *args)
{
    PyObject *key, *value;
    if (!PyArg_ParseTuple(args, "UO", &key, &value))
        return NULL;
    if (!PyUnicode_CheckExact(key)) {
        PyErr_SetString(PyExc_TypeError, "GroupTable.append: keys must be exact str");
        return NULL;
    }
    Py_hash_t hash = key_hash(key);
    int rc = hash == -1 ? -1 : table_append_hashed(t, key, hash, value);
    return rc < 0 ? NULL : PyBool_FromLong(rc);
}

/* last() -> (value,) for the value appended last, or None. */
static PyObject *
table_last(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    return t->last == NULL ? Py_NewRef(Py_None) : PyTuple_Pack(1, t->last);
}

/* waiting() -> {key: values} for the keys with other values than 1s: a
 * copy of each list with its tail at the end (for tests and reports). */
static PyObject *
table_waiting(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyDict_New();
    for (Py_ssize_t i = 0; out != NULL && i < t->cap; i++) {
        Slot *s = &t->slots[i];
        if (s->key == NULL || (s->values == NULL && s->tail == NULL))
            continue;
        PyObject *values = s->values != NULL ? PyList_GetSlice(s->values, 0, PyList_GET_SIZE(s->values)) : PyList_New(0);
        PyObject *tail = values == NULL || s->tail == NULL ? NULL : s->tail_n > 1 ? new_repeat(s->tail, s->tail_n) : Py_NewRef(s->tail);
        if (values == NULL || (s->tail != NULL && (tail == NULL || PyList_Append(values, tail) < 0)) || PyDict_SetItem(out, s->key, values) < 0)
            Py_CLEAR(out);
        Py_XDECREF(tail);
        Py_XDECREF(values);
    }
    return out;
}

/* slots() -> how many list slots the keys' other values take. */
static PyObject *
table_list_slots(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i < t->cap; i++)
        if (t->slots[i].key != NULL)
            n += (t->slots[i].values != NULL ? PyList_GET_SIZE(t->slots[i].values) : 0) + (t->slots[i].tail != NULL);
    return PyLong_FromSsize_t(n);
}

static PyObject *
table_clear(GroupTable *t, PyObject *Py_UNUSED(ignored))
{
    table_clear_slots(t);
    Py_RETURN_NONE;
}

static PyMethodDef table_methods[] = {
    {"add", (PyCFunction)table_add_py, METH_VARARGS, "add(key, n=1): count key n more times."},
    {"items", (PyCFunction)table_items, METH_NOARGS, "A list of (key, count) for the keys that came with 1."},
    {"append", (PyCFunction)table_append_py, METH_VARARGS, "append(key, value): key's other values get value; True if that took a new list slot."},
    {"take", (PyCFunction)table_take, METH_NOARGS, "(counted, single, grouped), emptying the table: (key, count) of keys with only 1s, (key, value) of keys with one other value, (key, values) of the rest, 1s first."},
    {"last", (PyCFunction)table_last, METH_NOARGS, "(value,) for the value appended last, or None."},
    {"waiting", (PyCFunction)table_waiting, METH_NOARGS, "{key: values} of the keys with other values than 1s."},
    {"slots", (PyCFunction)table_list_slots, METH_NOARGS, "How many list slots the other values take."},
    {"clear", (PyCFunction)table_clear, METH_NOARGS, "Forget every key."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods table_as_sequence = {
    .sq_length = (lenfunc)table_len,
};

static PyTypeObject GroupTableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.GroupTable",
    .tp_basicsize = sizeof(GroupTable),
    .tp_dealloc = (destructor)table_dealloc,
    .tp_as_sequence = &table_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "str key -> how many times it came with the value 1, and its other values.",
    .tp_methods = table_methods,
    .tp_new = PyType_GenericNew,
};

/* ---- Repeat: one value that came n times in a row for a key -------------
 *
 * A line-based index yields (word, file name) for every word of every line,
 * so a key's list of waiting values is the same name thousands of times
 * over, each a new str: a 25 MB task held 3.95M slots, as repeats 0.43M.
 * A repeat keeps the first of equal consecutive values and a count; the
 * combiner still sees every value, in order (iter_values), and the values
 * it sees are equal to the ones yielded, of the same exact type.  Only
 * exact str and int values are repeated: two of them that are equal cannot be
 * told apart by a combiner (short of `is`), unlike 1 and 1.0, or two lists.
 * A repeat holds a str or an int, so it cannot be part of a reference cycle
 * and is not tracked by the garbage collector.
 */
typedef struct {
    PyObject_HEAD
    PyObject *value;
    Py_ssize_t n;
} Repeat;

static PyTypeObject RepeatType;

static PyObject *
repeat_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *value;
    Py_ssize_t n;
    static char *kwlist[] = {"value", "n", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "On", kwlist, &value, &n))
        return NULL;
    if (!PyUnicode_CheckExact(value) && !PyLong_CheckExact(value)) {
        PyErr_SetString(PyExc_TypeError, "Repeat: the value must be an exact str or int");
        return NULL;
    }
    if (n < 1) {
        PyErr_SetString(PyExc_ValueError, "Repeat: n must be at least 1");
        return NULL;
    }
    Repeat *r = (Repeat *)type->tp_alloc(type, 0);
    if (r == NULL)
        return NULL;
    r->value = Py_NewRef(value);
    r->n = n;
    return (PyObject *)r;
}

/* Repeat(value, n) for a value known to be an exact int or str, and n >= 1. */
static PyObject *
new_repeat(PyObject *value, Py_ssize_t n)
{
    Repeat *r = PyObject_New(Repeat, &RepeatType);
    if (r == NULL)
        return NULL;
    r->value = Py_NewRef(value);
    r->n = n;
    return (PyObject *)r;
}

static void
repeat_dealloc(Repeat *r)
{
    Py_DECREF(r->value);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static PyMemberDef repeat_members[] = {
    {"value", T_OBJECT_EX, offsetof(Repeat, value), READONLY, "The value."},
    {"n", T_PYSSIZET, offsetof(Repeat, n), 0, "How many times it came in a row."},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject RepeatType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.Repeat",
    .tp_basicsize = sizeof(Repeat),
    .tp_dealloc = (destructor)repeat_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Repeat(value, n): a value that came n times in a row for one key.",
    .tp_members = repeat_members,
    .tp_new = repeat_new,
};

/* 1 if a and b are equal exact strs, or equal exact ints; 0 if not (never an error). */
static inline int
same_plain(PyObject *a, PyObject *b)
{
    if (a == b)
        return PyUnicode_CheckExact(a) || PyLong_CheckExact(a);
    if (PyUnicode_CheckExact(a)) {
        if (!PyUnicode_CheckExact(b))
            return 0;
        Py_ssize_t len = PyUnicode_GET_LENGTH(a);
        int kind = PyUnicode_KIND(a);
        return len == PyUnicode_GET_LENGTH(b) && kind == PyUnicode_KIND(b) &&
               memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)len * (size_t)kind) == 0;
    }
    if (PyLong_CheckExact(a) && PyLong_CheckExact(b))
        return PyObject_RichCompareBool(a, b, Py_EQ) == 1; /* int == int cannot fail */
    return 0;
}

/* An iterator over a key's waiting values with each repeat written out,
 * one value at a time: a repeat of millions costs no list of millions. */
typedef struct {
    PyObject_HEAD
    PyObject *values; /* the list */
    Py_ssize_t next;  /* its next item */
    PyObject *value;  /* the current repeat's value, or NULL */
    Py_ssize_t left;  /* how many more times it comes */
} RepeatsIter;

static void
repeats_iter_dealloc(RepeatsIter *it)
{
    Py_XDECREF(it->values);
    Py_XDECREF(it->value);
    Py_TYPE(it)->tp_free((PyObject *)it);
}

static PyObject *
repeats_iter_next(RepeatsIter *it)
{
    for (;;) {
        if (it->left > 0) {
            it->left--;
            return Py_NewRef(it->value);
        }
        if (it->values == NULL || it->next >= PyList_GET_SIZE(it->values)) {
            Py_CLEAR(it->values); /* done: hold nothing a cycle could keep */
            Py_CLEAR(it->value);
            return NULL;
        }
        PyObject *v = PyList_GET_ITEM(it->values, it->next++);
        if (!Py_IS_TYPE(v, &RepeatType))
            return Py_NewRef(v);
        Py_XSETREF(it->value, Py_NewRef(((Repeat *)v)->value));
        it->left = ((Repeat *)v)->n;
    }
}

static PyTypeObject RepeatsIterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.RepeatsIter",
    .tp_basicsize = sizeof(RepeatsIter),
    .tp_dealloc = (destructor)repeats_iter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)repeats_iter_next,
};

/* iter_values(values) -> (count, iterator): how many values a key's list
 * stands for, repeats counted, and an iterator over them; a plain list
 * iterator when it holds no repeat. */
static PyObject *
iter_values(PyObject *self, PyObject *values)
{
    (void)self;
    if (!PyList_CheckExact(values)) {
        PyErr_SetString(PyExc_TypeError, "iter_values: values must be a list");
        return NULL;
    }
    Py_ssize_t size = PyList_GET_SIZE(values), total = 0;
    int repeats = 0;
    for (Py_ssize_t i = 0; i < size; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (Py_IS_TYPE(v, &RepeatType)) {
            repeats = 1;
            total += ((Repeat *)v)->n;
        }
        else {
            total++;
        }
    }
    PyObject *it;
    if (!repeats) {
        it = PyObject_GetIter(values);
    }
    else {
        RepeatsIter *r = PyObject_New(RepeatsIter, &RepeatsIterType);
        if (r != NULL) {
            r->values = Py_NewRef(values);
            r->next = 0;
            r->value = NULL;
            r->left = 0;
        }
        it = (PyObject *)r;
    }
    if (it == NULL)
        return NULL;
    PyObject *count = PyLong_FromSsize_t(total);
    if (count == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    PyObject *out = PyTuple_Pack(2, count, it);
    Py_DECREF(count);
    Py_DECREF(it);
    return out;
}

/* Pairs are pulled this many at a time, so that the table slots of their
 * keys can be fetched from memory while the mapper makes the next ones:
 * the slot's cache miss was most of a counted pair's cost. */
/* counts[i] += add[i] for a list of two ints, keeping an exception that
 * is already set (the caller's loop stopped on it, and it still counts
 * what it took).  -1 (that exception dropped) if the additions fail. */
static int
add_counts(PyObject *counts, const Py_ssize_t add[2])
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    for (int i = 0; i < 2; i++) {
        PyObject *delta = PyLong_FromSsize_t(add[i]);
        PyObject *sum = delta ? PyNumber_Add(PyList_GET_ITEM(counts, i), delta) : NULL;
        Py_XDECREF(delta);
        if (sum == NULL) {
            Py_XDECREF(type);
            Py_XDECREF(exc);
            Py_XDECREF(tb);
            return -1;
        }
        PyList_SetItem(counts, i, sum); /* steals sum, drops the old count */
    }
    PyErr_Restore(type, exc, tb);
    return 0;
}

#define BATCH 16

/* Take one (str, value) tuple into the table.  Returns 1 if it added a
 * list slot, 0 if not, -1 on error; *counted tells if it was a 1.  hash:
 * the key's key_hash, or -1 to compute it here. */
static int
take_pair(GroupTable *table, PyObject *recent, PyObject *item, Py_hash_t hash, int *counted)
{
    PyObject *key = PyTuple_GET_ITEM(item, 0);
    PyObject *value = PyTuple_GET_ITEM(item, 1);
    if (hash == -1 && (hash = key_hash(key)) == -1)
        return -1;
    *counted = is_one(value);
    if (*counted)
        return table_add_hashed(table, key, hash, 1);
    PyObject *last = PyList_GET_ITEM(recent, 0);
    if (value != last) {
        if (same_plain(last, value))
            value = last; /* the tuple still holds the one yielded */
        else if (PyUnicode_CheckExact(value) || PyLong_CheckExact(value))
            PyList_SetItem(recent, 0, Py_NewRef(value)); /* steals; drops the old one */
    }
    return table_append_hashed(table, key, hash, value);
}

/* group_pairs(table, pairs, limit, taken, recent) -> leftover
 *
 * Moves up to `limit` pairs from the iterator `pairs` into the map side's
 * table of str keys (an GroupTable).  A (str, 1) tuple is only counted, so
 * the millions of pairs of a count cost one table update each and no
 * memory; any other (str, value) tuple appends its value to its key's
 * list in the same slot.  A dict of lists cost a line index about four
 * cache misses a pair (its index, its entry, the stored key's characters,
 * the list), and SipHash; the slot is one miss, fetched ahead.  Returns
 *   - None when the iterator is exhausted,
 *   - Ellipsis when `limit` pairs were taken (the caller checks its
 *     memory budget, then calls again),
 *   - any other item: the first one whose key is not an exact str, or
 *     that is not a 2-tuple; the caller handles it and calls again.
 * `taken` is a list [pairs moved, of which added a list slot],
 * increased also when the iterator raises, so counters stay exact.
 *
 * `recent` is a list of one item: the last exact str or int value grouped.
 * A value equal to it is replaced by it before it is appended, so the
 * equal names an index yields line after line become one object: its
 * repeats then grow without reading another object, and the memory
 * estimate sees the name shared (mapside.MapOutput._group_one does the
 * same for the pairs handed back).
 */
static PyObject *
group_pairs(PyObject *self, PyObject *args)
{
    PyObject *ones, *pairs, *taken, *recent;
    Py_ssize_t limit, n = 0, appended = 0;
    PyObject *result = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "O!OnO!O!", &GroupTableType, &ones, &pairs, &limit, &PyList_Type, &taken, &PyList_Type, &recent))
        return NULL;
    if (!PyIter_Check(pairs)) {
        PyErr_SetString(PyExc_TypeError, "group_pairs: pairs must be an iterator");
        return NULL;
    }
    if (PyList_GET_SIZE(taken) != 2) {
        PyErr_SetString(PyExc_ValueError, "group_pairs: taken must hold two ints");
        return NULL;
    }
    if (PyList_GET_SIZE(recent) != 1) {
        PyErr_SetString(PyExc_ValueError, "group_pairs: recent must hold one item");
        return NULL;
    }
    iternextfunc next = Py_TYPE(pairs)->tp_iternext;
    PyObject *batch[BATCH];
    Py_hash_t hashes[BATCH]; /* each key's key_hash, from its prefetch */

    while (n < limit) {
        /* Pull a batch, hashing each counted key and prefetching its slot;
         * stop at the end, an error, or an item this loop cannot take. */
        Py_ssize_t want = limit - n < BATCH ? limit - n : BATCH, got = 0;
        PyObject *leftover = NULL;
        int ended = 0;
        while (got < want) {
            PyObject *item = next(pairs);
            if (item == NULL) {
                ended = 1;
                break;
            }
            if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(item, 0))) {
                leftover = item;
                break;
            }
            hashes[got] = table_prefetch((GroupTable *)ones, PyTuple_GET_ITEM(item, 0));
            if (hashes[got] == -1)
                PyErr_Clear(); /* take_pair hashes it again and reports the error */
            batch[got++] = item;
        }
        /* The mapper's exception (or StopIteration) waits while the batch is taken. */
        PyObject *type = NULL, *exc = NULL, *tb = NULL;
        if (ended)
            PyErr_Fetch(&type, &exc, &tb);
        Py_ssize_t i = 0;
        int rc = 0;
        for (; i < got; i++) {
            int counted;
            rc = take_pair((GroupTable *)ones, recent, batch[i], hashes[i], &counted);
            Py_DECREF(batch[i]);
            if (rc < 0)
                break;
            n++;
            appended += !counted && rc > 0;
        }
        if (rc < 0) {
            for (i++; i < got; i++)
                Py_DECREF(batch[i]);
            Py_XDECREF(leftover);
            Py_XDECREF(type);
            Py_XDECREF(exc);
            Py_XDECREF(tb);
            goto done;
        }
        if (leftover != NULL) {
            result = leftover; /* the caller's problem; our reference passes to it */
            goto done;
        }
        if (ended) {
            PyErr_Restore(type, exc, tb);
            if (PyErr_Occurred()) {
                if (!PyErr_ExceptionMatches(PyExc_StopIteration))
                    goto done; /* the mapper raised: result stays NULL */
                PyErr_Clear();
            }
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    result = Py_NewRef(Py_Ellipsis);

done:;
    Py_ssize_t add[2] = {n, appended};
    if (n && add_counts(taken, add) < 0) {
        Py_XDECREF(result);
        return NULL;
    }
    return result;
}


/* combine_counts(single, combiner, repeat, chunk, limit, at) -> None
 *
 * The combiner over counted keys, _combined's first loop in C: for each
 * (key, n) of single[at[0]:], a count of 1 passes as the (key, 1) tuple
 * itself, and any other count extends chunk with combiner(key, repeat(1,
 * n)).  Stops once chunk holds `limit` pairs or single ends.  at is
 * [next index, combine input records, combine output records], kept up to
 * date; when the combiner raises, at[0] is the index of its key. */
static PyObject *
combine_counts(PyObject *self, PyObject *args)
{
    PyObject *single, *combiner, *repeat, *chunk, *at;
    Py_ssize_t limit;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!OOO!nO!", &PyList_Type, &single, &combiner, &repeat, &PyList_Type, &chunk, &limit, &PyList_Type, &at))
        return NULL;
    if (PyList_GET_SIZE(at) != 3) {
        PyErr_SetString(PyExc_ValueError, "combine_counts: at must hold three ints");
        return NULL;
    }
    Py_ssize_t v[3];
    for (int j = 0; j < 3; j++) {
        v[j] = PyLong_AsSsize_t(PyList_GET_ITEM(at, j));
        if (v[j] == -1 && PyErr_Occurred())
            return NULL;
    }
    Py_ssize_t i = v[0] < 0 ? 0 : v[0];
    int failed = 0;
    for (; i < PyList_GET_SIZE(single) && PyList_GET_SIZE(chunk) < limit; i++) {
        PyObject *item = PyList_GET_ITEM(single, i);
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2 || !PyLong_CheckExact(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "combine_counts: single must hold (key, count) tuples");
            failed = 1;
            break;
        }
        Py_ssize_t n = PyLong_AsSsize_t(PyTuple_GET_ITEM(item, 1));
        if (n == -1 && PyErr_Occurred()) {
            failed = 1;
            break;
        }
        if (n == 1) {
            if (PyList_Append(chunk, item) < 0) { /* (key, 1): the pair itself */
                failed = 1;
                break;
            }
            continue;
        }
        v[1] += n; /* counted before the call, as the Python loop does */
        Py_INCREF(item); /* the combiner runs Python code */
        PyObject *count = PyTuple_GET_ITEM(item, 1);
        PyObject *rargs[2] = {one, count};
        PyObject *values = PyObject_Vectorcall(repeat, rargs, 2, NULL);
        PyObject *cargs[2] = {PyTuple_GET_ITEM(item, 0), values};
        PyObject *out = values ? PyObject_Vectorcall(combiner, cargs, 2, NULL) : NULL;
        Py_XDECREF(values);
        Py_DECREF(item);
        Py_ssize_t before = PyList_GET_SIZE(chunk);
        PyObject *extended = out ? PySequence_InPlaceConcat(chunk, out) : NULL; /* chunk += out */
        Py_XDECREF(out);
        if (extended == NULL) {
            failed = 1;
            break;
        }
        Py_DECREF(extended);
        v[2] += PyList_GET_SIZE(chunk) - before;
    }
    v[0] = i;
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    for (int j = 0; j < 3; j++) {
        PyObject *x = PyLong_FromSsize_t(v[j]);
        if (x == NULL) {
            Py_XDECREF(type);
            Py_XDECREF(exc);
            Py_XDECREF(tb);
            return NULL;
        }
        PyList_SetItem(at, j, x);
    }
    PyErr_Restore(type, exc, tb);
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- finishing a map task: encode, partition and pack records ---------- */

/* CRC-32 as zlib computes it (reflected 0xEDB88320), so partitions are the
 * same as the Python path's zlib.crc32(key) % R. */
static uint32_t crc_table[256];

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

/* The running CRC after p[:n], from the running value c (0xFFFFFFFF at the start). */
static inline uint32_t
crc32_more(uint32_t c, const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c;
}

static uint32_t
crc32_of(const unsigned char *p, Py_ssize_t n)
{
    return crc32_more(0xFFFFFFFFu, p, n) ^ 0xFFFFFFFFu;
}

/* The key encoding of an exact str at top level: tag 0x05, then UTF-8
 * with lone surrogates passed through (codec.encode_key). */
static PyObject *
encode_str_key(PyObject *k)
{
    const char *data;
    Py_ssize_t n;
    PyObject *utf8 = NULL;
    if (PyUnicode_IS_ASCII(k)) {
        data = (const char *)PyUnicode_DATA(k);
        n = PyUnicode_GET_LENGTH(k);
    }
    else {
        utf8 = PyUnicode_AsEncodedString(k, "utf-8", "surrogatepass");
        if (utf8 == NULL)
            return NULL;
        data = PyBytes_AS_STRING(utf8);
        n = PyBytes_GET_SIZE(utf8);
    }
    PyObject *kb = PyBytes_FromStringAndSize(NULL, n + 1);
    if (kb != NULL) {
        char *out = PyBytes_AS_STRING(kb);
        out[0] = 0x05;
        memcpy(out + 1, data, (size_t)n);
    }
    Py_XDECREF(utf8);
    return kb;
}


/* The JSON text of a list of ASCII strs, as json's encoder writes it
 * (codec.encode_value: ensure_ascii=False, separators "," and ":"), in
 * two passes: its size, or -1 when `v` is anything else (the caller falls
 * back to Python, no error set), then the text itself. */
static Py_ssize_t
ascii_str_list_size(PyObject *v)
{
    Py_ssize_t n = PyList_GET_SIZE(v), size = 2 + (n > 0 ? n - 1 : 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(v, i);
        if (!PyUnicode_CheckExact(s) || !PyUnicode_IS_ASCII(s))
            return -1;
        const unsigned char *c = PyUnicode_DATA(s);
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        size += 2 + len;
        for (Py_ssize_t j = 0; j < len; j++) {
            unsigned char ch = c[j];
            if (ch == '"' || ch == '\\' || ch == '\b' || ch == '\f' || ch == '\n' || ch == '\r' || ch == '\t')
                size += 1;
            else if (ch < 0x20)
                size += 5; /* \u00XX */
        }
    }
    return size;
}

static void
write_ascii_str_list(PyObject *v, char *p)
{
    static const char hex[] = "0123456789abcdef";
    Py_ssize_t n = PyList_GET_SIZE(v);
    *p++ = '[';
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyList_GET_ITEM(v, i);
        const unsigned char *c = PyUnicode_DATA(s);
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        if (i)
            *p++ = ',';
        *p++ = '"';
        for (Py_ssize_t j = 0; j < len; j++) {
            unsigned char ch = c[j];
            switch (ch) {
            case '"': *p++ = '\\'; *p++ = '"'; break;
            case '\\': *p++ = '\\'; *p++ = '\\'; break;
            case '\b': *p++ = '\\'; *p++ = 'b'; break;
            case '\f': *p++ = '\\'; *p++ = 'f'; break;
            case '\n': *p++ = '\\'; *p++ = 'n'; break;
            case '\r': *p++ = '\\'; *p++ = 'r'; break;
            case '\t': *p++ = '\\'; *p++ = 't'; break;
            default:
                if (ch < 0x20) {
                    *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0';
                    *p++ = hex[ch >> 4]; *p++ = hex[ch & 15];
                }
                else {
                    *p++ = (char)ch;
                }
            }
        }
        *p++ = '"';
    }
    *p = ']';
}

/* As bytes (a run-file value), or NULL without an error: see above. */
static PyObject *
encode_ascii_str_list(PyObject *v)
{
    Py_ssize_t size = ascii_str_list_size(v);
    if (size < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out != NULL)
        write_ascii_str_list(v, PyBytes_AS_STRING(out));
    return out;
}

typedef struct Records Records;
static PyTypeObject RecordsType;
static char *records_reserve(Records *r, size_t bytes);
static void records_commit(Records *r, size_t kl, size_t vl);
static int bucket_into_records(PyObject *pair, PyObject *bufs, Py_ssize_t R, PyObject *encode_value, int json_values);

/* bucket_pairs(pairs, start, bufs, encode_value, json_values) -> index
 *
 * Encodes pairs[start:] into the partition buffers `bufs` (a list of R
 * Records, or of R lists of (key bytes, value bytes)), partitioned by
 * crc32 of the key.
 * Values go through `encode_value`, except, when `json_values` is true (values
 * are JSON text), exact ints (their decimal digits) and lists of ASCII
 * strs.  Stops at the first pair
 * that is not an exact (str, value) tuple and returns its index (the
 * caller encodes it and calls again), or len(pairs) when done.
 */
static PyObject *
bucket_pairs(PyObject *self, PyObject *args)
{
    PyObject *pairs, *bufs, *encode_value;
    Py_ssize_t start;
    int json_values;
    (void)self;
    if (!PyArg_ParseTuple(args, "O!nO!Op", &PyList_Type, &pairs, &start, &PyList_Type, &bufs, &encode_value, &json_values))
        return NULL;
    Py_ssize_t R = PyList_GET_SIZE(bufs);
    if (R < 1) {
        PyErr_SetString(PyExc_ValueError, "bucket_pairs: no partitions");
        return NULL;
    }
    int packed = Py_IS_TYPE(PyList_GET_ITEM(bufs, 0), &RecordsType);
    for (Py_ssize_t r = 0; r < R; r++) {
        PyObject *b = PyList_GET_ITEM(bufs, r);
        if (packed ? !Py_IS_TYPE(b, &RecordsType) : !PyList_CheckExact(b)) {
            PyErr_SetString(PyExc_TypeError, "bucket_pairs: bufs must be all lists or all Records");
            return NULL;
        }
    }
    Py_ssize_t i = start < 0 ? 0 : start;
    for (; i < PyList_GET_SIZE(pairs); i++) {
        PyObject *pair = PyList_GET_ITEM(pairs, i);
        if (!PyTuple_CheckExact(pair) || PyTuple_GET_SIZE(pair) != 2 || !PyUnicode_CheckExact(PyTuple_GET_ITEM(pair, 0)))
            break;
        if (packed) {
            if (bucket_into_records(pair, bufs, R, encode_value, json_values) < 0)
                return NULL;
            continue;
        }
        Py_INCREF(pair); /* encode_value may run Python code */
        PyObject *v = PyTuple_GET_ITEM(pair, 1);
        PyObject *kb = encode_str_key(PyTuple_GET_ITEM(pair, 0));
        PyObject *vb = NULL;
        if (kb != NULL) {
            int overflow = 0;
            long long x = 0;
            if (json_values && PyLong_CheckExact(v)) {
                x = PyLong_AsLongLongAndOverflow(v, &overflow);
                if (x == -1 && PyErr_Occurred())
                    overflow = -2;
            }
            if (json_values && PyLong_CheckExact(v) && overflow == 0) {
                char digits[32];
                int len = snprintf(digits, sizeof digits, "%lld", x);
                vb = PyBytes_FromStringAndSize(digits, len);
            }
            else if (json_values && PyList_CheckExact(v) && (vb = encode_ascii_str_list(v)) != NULL) {
                /* done */
            }
            else if (overflow != -2 && !PyErr_Occurred()) {
                vb = PyObject_CallOneArg(encode_value, v);
                if (vb != NULL && !PyBytes_CheckExact(vb)) {
                    Py_DECREF(vb);
                    vb = NULL;
                    PyErr_SetString(PyExc_TypeError, "bucket_pairs: encode_value must return bytes");
                }
            }
        }
        Py_DECREF(pair);
        if (vb == NULL) {
            Py_XDECREF(kb);
            return NULL;
        }
        PyObject *rec = PyTuple_Pack(2, kb, vb);
        Py_ssize_t p = (Py_ssize_t)(crc32_of((const unsigned char *)PyBytes_AS_STRING(kb), PyBytes_GET_SIZE(kb)) % (uint32_t)R);
        Py_DECREF(kb);
        Py_DECREF(vb);
        if (rec == NULL)
            return NULL;
        int rc = PyList_Append(PyList_GET_ITEM(bufs, p), rec);
        Py_DECREF(rec);
        if (rc < 0)
            return NULL;
    }
    return PyLong_FromSsize_t(i);
}

static inline void
put_u32(char *p, uint32_t x)
{
    p[0] = (char)(x >> 24);
    p[1] = (char)(x >> 16);
    p[2] = (char)(x >> 8);
    p[3] = (char)x;
}

static inline uint32_t
get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* unpack_records(payload, count) -> [(key, value), ...]: the inverse.  ValueError when the
   records overrun the payload or leave bytes of it over (runfile.parse_payload's twin). */
static PyObject *
unpack_records(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    Py_ssize_t count;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*n", &buf, &count))
        return NULL;
    PyObject *out = PyList_New(count < 0 ? 0 : count);
    if (out == NULL) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    const unsigned char *p = buf.buf;
    Py_ssize_t pos = 0, len = buf.len;
    for (Py_ssize_t i = 0; i < count; i++) {
        if (len - pos < 8)
            goto overrun;
        Py_ssize_t kl = get_u32(p + pos), vl = get_u32(p + pos + 4);
        pos += 8;
        if (kl > len - pos || vl > len - pos - kl)
            goto overrun;
        PyObject *rec = PyTuple_New(2);
        PyObject *kb = rec ? PyBytes_FromStringAndSize((const char *)p + pos, kl) : NULL;
        PyObject *vb = kb ? PyBytes_FromStringAndSize((const char *)p + pos + kl, vl) : NULL;
        if (vb == NULL) {
            Py_XDECREF(kb);
            Py_XDECREF(rec);
            rec = NULL;
        }
        else {
            PyTuple_SET_ITEM(rec, 0, kb);
            PyTuple_SET_ITEM(rec, 1, vb);
        }
        if (rec == NULL) {
            Py_DECREF(out);
            PyBuffer_Release(&buf);
            return NULL;
        }
        PyList_SET_ITEM(out, i, rec);
        pos += kl + vl;
    }
    if (pos != len) {
        /* The header's count is not under the checksum: too small a count leaves records behind. */
        Py_DECREF(out);
        PyBuffer_Release(&buf);
        PyErr_SetString(PyExc_ValueError, "the block holds more bytes than its records");
        return NULL;
    }
    PyBuffer_Release(&buf);
    return out;

overrun:
    Py_DECREF(out);
    PyBuffer_Release(&buf);
    PyErr_SetString(PyExc_ValueError, "a record overruns its block");
    return NULL;
}


/* A run-file record: an exact (bytes, bytes) tuple. */
static int
is_record(PyObject *rec)
{
    return PyTuple_CheckExact(rec) && PyTuple_GET_SIZE(rec) == 2 && PyBytes_CheckExact(PyTuple_GET_ITEM(rec, 0)) &&
           PyBytes_CheckExact(PyTuple_GET_ITEM(rec, 1));
}

static int
compare_bytes(PyObject *a, PyObject *b)
{
    Py_ssize_t la = PyBytes_GET_SIZE(a), lb = PyBytes_GET_SIZE(b);
    int c = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)(la < lb ? la : lb));
    if (c != 0)
        return c;
    return (la > lb) - (la < lb);
}

static int
compare_records(const void *pa, const void *pb)
{
    PyObject *a = *(PyObject *const *)pa, *b = *(PyObject *const *)pb;
    int c = compare_bytes(PyTuple_GET_ITEM(a, 0), PyTuple_GET_ITEM(b, 0));
    return c != 0 ? c : compare_bytes(PyTuple_GET_ITEM(a, 1), PyTuple_GET_ITEM(b, 1));
}

/* ---- Records: a partition's encoded records, packed ----------------------
 *
 * A map task's finish encodes every combined pair into its partition's
 * buffer, sorts it and writes it.  As a list, a record was a tuple and two
 * bytes objects, 145 bytes of heap a record of a 200k-key finish (63
 * packed, tests/test_speedups.py): the line index's
 * 852k records of a 50 MB split took its process from 88 to 216 MiB, and
 * so the split size was capped.  Here a record is its run-file form
 * (u32 klen | u32 vlen | key | value) in one growing byte array, plus an
 * entry of 16 bytes that holds its key's first 8 bytes (the radix sort's
 * prefix, read while the key is at hand) and its offset.  Writing a block
 * is then a copy, and nothing is freed record by record.
 */
typedef struct {
    uint64_t prefix;
    size_t off;
} Entry;

struct Records {
    PyObject_HEAD
    char *data;
    size_t used, cap;
    Entry *idx;
    Py_ssize_t n, icap;
};

static inline uint32_t
rec_u32(const char *p)
{
    return get_u32((const unsigned char *)p);
}

static inline uint64_t
bytes_prefix(const char *k, size_t n)
{
    const unsigned char *s = (const unsigned char *)k;
    uint64_t p = 0;
    for (size_t i = 0; i < 8; i++)
        p = (p << 8) | (i < n ? s[i] : 0);
    return p;
}

/* Room for one more record of `bytes` bytes: its start in data, or NULL
 * with MemoryError set.  The entry is taken too; records_commit fills it. */
static char *
records_reserve(Records *r, size_t bytes)
{
    if (r->n == r->icap) {
        Py_ssize_t cap = r->icap ? r->icap * 2 : 1024;
        Entry *idx = PyMem_Realloc(r->idx, (size_t)cap * sizeof(Entry));
        if (idx == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        r->idx = idx;
        r->icap = cap;
    }
    if (r->cap - r->used < bytes) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap - r->used < bytes)
            cap *= 2;
        char *data = PyMem_Realloc(r->data, cap);
        if (data == NULL) {
            PyErr_NoMemory();
            return NULL;
        }
        r->data = data;
        r->cap = cap;
    }
    return r->data + r->used;
}

/* The record just written at records_reserve's pointer: key kl bytes, value vl. */
static void
records_commit(Records *r, size_t kl, size_t vl)
{
    char *rec = r->data + r->used;
    put_u32(rec, (uint32_t)kl);
    put_u32(rec + 4, (uint32_t)vl);
    r->idx[r->n].prefix = bytes_prefix(rec + 8, kl);
    r->idx[r->n].off = r->used;
    r->n++;
    r->used += 8 + kl + vl;
}

static int
records_add(Records *r, const char *k, Py_ssize_t kl, const char *v, Py_ssize_t vl)
{
    if (kl > 0xFFFFFFFFLL || vl > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_OverflowError, "Records: a key or value over 4 GiB");
        return -1;
    }
    char *rec = records_reserve(r, 8 + (size_t)kl + (size_t)vl);
    if (rec == NULL)
        return -1;
    memcpy(rec + 8, k, (size_t)kl);
    memcpy(rec + 8 + kl, v, (size_t)vl);
    records_commit(r, (size_t)kl, (size_t)vl);
    return 0;
}

/* One exact (str, value) pair into its partition's Records, encoded as
 * bucket_pairs encodes it into a list, with no bytes object made for the
 * key (nor for an int or a list of ASCII strs). */
static int
bucket_into_records(PyObject *pair, PyObject *bufs, Py_ssize_t R, PyObject *encode_value, int json_values)
{
    PyObject *k = PyTuple_GET_ITEM(pair, 0), *v = PyTuple_GET_ITEM(pair, 1);
    PyObject *utf8 = NULL, *vb = NULL;
    const char *kd;
    Py_ssize_t kn;
    int rc = -1;
    Py_INCREF(pair); /* encode_value may run Python code */
    if (PyUnicode_IS_ASCII(k)) {
        kd = (const char *)PyUnicode_DATA(k);
        kn = PyUnicode_GET_LENGTH(k);
    }
    else {
        utf8 = PyUnicode_AsEncodedString(k, "utf-8", "surrogatepass");
        if (utf8 == NULL)
            goto done;
        kd = PyBytes_AS_STRING(utf8);
        kn = PyBytes_GET_SIZE(utf8);
    }
    char digits[32];
    const char *vd = NULL;
    Py_ssize_t vn = -1;
    PyObject *list = NULL; /* a list of ASCII strs, written in place */
    if (json_values && PyLong_CheckExact(v)) {
        int overflow = 0;
        long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
        if (x == -1 && PyErr_Occurred())
            goto done;
        if (!overflow) {
            vn = snprintf(digits, sizeof digits, "%lld", x);
            vd = digits;
        }
    }
    else if (json_values && PyList_CheckExact(v) && (vn = ascii_str_list_size(v)) >= 0) {
        list = v;
    }
    if (vd == NULL && list == NULL) {
        vb = PyObject_CallOneArg(encode_value, v);
        if (vb == NULL)
            goto done;
        if (!PyBytes_CheckExact(vb)) {
            PyErr_SetString(PyExc_TypeError, "bucket_pairs: encode_value must return bytes");
            goto done;
        }
        vd = PyBytes_AS_STRING(vb);
        vn = PyBytes_GET_SIZE(vb);
    }
    if (kn + 1 > 0xFFFFFFFFLL || vn > 0xFFFFFFFFLL) {
        PyErr_SetString(PyExc_OverflowError, "bucket_pairs: a key or value over 4 GiB");
        goto done;
    }
    static const unsigned char tag = 0x05;
    uint32_t c = crc32_more(crc32_more(0xFFFFFFFFu, &tag, 1), (const unsigned char *)kd, kn) ^ 0xFFFFFFFFu;
    Records *r = (Records *)PyList_GET_ITEM(bufs, (Py_ssize_t)(c % (uint32_t)R));
    /* No Python code runs from here on: the buffer cannot move under us. */
    char *rec = records_reserve(r, 8 + 1 + (size_t)kn + (size_t)vn);
    if (rec == NULL)
        goto done;
    rec[8] = (char)tag;
    memcpy(rec + 9, kd, (size_t)kn);
    if (list != NULL)
        write_ascii_str_list(list, rec + 9 + kn);
    else
        memcpy(rec + 9 + kn, vd, (size_t)vn);
    records_commit(r, (size_t)kn + 1, (size_t)vn);
    rc = 0;
done:
    Py_XDECREF(vb);
    Py_XDECREF(utf8);
    Py_DECREF(pair);
    return rc;
}

static void
records_free(Records *r)
{
    PyMem_Free(r->data);
    PyMem_Free(r->idx);
    r->data = NULL;
    r->idx = NULL;
    r->used = r->cap = 0;
    r->n = r->icap = 0;
}

static void
records_dealloc(Records *r)
{
    records_free(r);
    Py_TYPE(r)->tp_free((PyObject *)r);
}

static Py_ssize_t
records_len(Records *r)
{
    return r->n;
}

static PyObject *
records_append(Records *r, PyObject *rec)
{
    if (!is_record(rec)) {
        PyErr_SetString(PyExc_TypeError, "Records.append: a record is a (bytes, bytes) tuple");
        return NULL;
    }
    PyObject *k = PyTuple_GET_ITEM(rec, 0), *v = PyTuple_GET_ITEM(rec, 1);
    if (records_add(r, PyBytes_AS_STRING(k), PyBytes_GET_SIZE(k), PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v)) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
records_clear(Records *r, PyObject *Py_UNUSED(ignored))
{
    records_free(r); /* give the memory back: a spill empties the buffers to fill them again */
    Py_RETURN_NONE;
}

/* Ties of the prefix: the whole key, then the value, as compare_records. */
static const char *sort_base;

static int
compare_entries(const void *pa, const void *pb)
{
    const Entry *a = pa, *b = pb;
    if (a->prefix != b->prefix)
        return a->prefix < b->prefix ? -1 : 1;
    const char *ra = sort_base + a->off, *rb = sort_base + b->off;
    uint32_t ka = rec_u32(ra), kb = rec_u32(rb), va = rec_u32(ra + 4), vb = rec_u32(rb + 4);
    int c = memcmp(ra + 8, rb + 8, ka < kb ? ka : kb);
    if (c != 0)
        return c;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    c = memcmp(ra + 8 + ka, rb + 8 + kb, va < vb ? va : vb);
    if (c != 0)
        return c;
    return (va > vb) - (va < vb);
}

/* sort(): by key bytes, then value bytes: a radix sort of the entries by
 * prefix, a byte a pass, then qsort on each run of equal prefixes. */
static PyObject *
records_sort(Records *r, PyObject *Py_UNUSED(ignored))
{
    Py_ssize_t n = r->n;
    if (n < 2)
        Py_RETURN_NONE;
    Entry *a = r->idx, *b = PyMem_Malloc((size_t)n * sizeof(Entry));
    if (b == NULL)
        return PyErr_NoMemory();
    Py_ssize_t counts[8][256];
    memset(counts, 0, sizeof(counts));
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t p = a[i].prefix;
        for (int d = 0; d < 8; d++)
            counts[d][(p >> (8 * d)) & 0xff]++;
    }
    for (int d = 0; d < 8; d++) {
        Py_ssize_t *c = counts[d];
        if (c[(a[0].prefix >> (8 * d)) & 0xff] == n)
            continue; /* every record has this byte: the pass would change nothing */
        Py_ssize_t sum = 0;
        for (int v = 0; v < 256; v++) {
            Py_ssize_t t = c[v];
            c[v] = sum;
            sum += t;
        }
        for (Py_ssize_t i = 0; i < n; i++)
            b[c[(a[i].prefix >> (8 * d)) & 0xff]++] = a[i];
        Entry *t = a;
        a = b;
        b = t;
    }
    sort_base = r->data; /* no Python code runs here: nothing else sorts meanwhile */
    for (Py_ssize_t i = 0; i < n;) {
        Py_ssize_t j = i + 1;
        while (j < n && a[j].prefix == a[i].prefix)
            j++;
        if (j - i > 1)
            qsort(a + i, (size_t)(j - i), sizeof(Entry), compare_entries);
        i = j;
    }
    if (a != r->idx) {
        /* An odd number of passes left the order in the scratch array. */
        PyMem_Free(r->idx);
        r->idx = a;
        r->icap = n;
    }
    else {
        PyMem_Free(b);
    }
    Py_RETURN_NONE;
}

/* pack(start, limit) -> (payload, next): the run-file payload of records
 * [start:next) in their current order, where next is the first index at
 * which the payload has reached `limit` bytes (or len): RunWriter's cut. */
static PyObject *
records_pack(Records *r, PyObject *args)
{
    Py_ssize_t start, limit;
    if (!PyArg_ParseTuple(args, "nn", &start, &limit))
        return NULL;
    Py_ssize_t end = start < 0 ? 0 : start, size = 0;
    for (; end < r->n && size < limit; end++) {
        const char *rec = r->data + r->idx[end].off;
        size += 8 + (Py_ssize_t)rec_u32(rec) + (Py_ssize_t)rec_u32(rec + 4);
    }
    PyObject *payload = PyBytes_FromStringAndSize(NULL, size);
    if (payload == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(payload);
    for (Py_ssize_t i = start < 0 ? 0 : start; i < end; i++) {
        const char *rec = r->data + r->idx[i].off;
        size_t len = 8 + (size_t)rec_u32(rec) + (size_t)rec_u32(rec + 4);
        memcpy(out, rec, len);
        out += len;
    }
    return Py_BuildValue("(Nn)", payload, end);
}

/* records(): every record as a (bytes, bytes) tuple, in the current order (for tests). */
static PyObject *
records_records(Records *r, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = PyList_New(r->n);
    if (out == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < r->n; i++) {
        const char *rec = r->data + r->idx[i].off;
        uint32_t kl = rec_u32(rec), vl = rec_u32(rec + 4);
        PyObject *t = Py_BuildValue("(y#y#)", rec + 8, (Py_ssize_t)kl, rec + 8 + kl, (Py_ssize_t)vl);
        if (t == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyObject *
records_nbytes(Records *r, void *Py_UNUSED(closure))
{
    return PyLong_FromSize_t(r->cap + (size_t)r->icap * sizeof(Entry));
}

static PyMethodDef records_methods[] = {
    {"append", (PyCFunction)records_append, METH_O, "append((key, value)): add a record of bytes."},
    {"sort", (PyCFunction)records_sort, METH_NOARGS, "Sort by key bytes, then value bytes."},
    {"pack", (PyCFunction)records_pack, METH_VARARGS, "pack(start, limit) -> (payload, next): a block payload of records, cut at limit bytes."},
    {"records", (PyCFunction)records_records, METH_NOARGS, "Every record as a (bytes, bytes) tuple, in order."},
    {"clear", (PyCFunction)records_clear, METH_NOARGS, "Forget every record and free the memory."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef records_getset[] = {
    {"nbytes", (getter)records_nbytes, NULL, "Bytes of memory held.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods records_as_sequence = {
    .sq_length = (lenfunc)records_len,
};

static PyTypeObject RecordsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.Records",
    .tp_basicsize = sizeof(Records),
    .tp_dealloc = (destructor)records_dealloc,
    .tp_as_sequence = &records_as_sequence,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A partition's (key bytes, value bytes) records, packed in run-file form.",
    .tp_methods = records_methods,
    .tp_getset = records_getset,
    .tp_new = PyType_GenericNew,
};

static PyObject *
crc32_py(PyObject *self, PyObject *args)
{
    Py_buffer buf;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*", &buf))
        return NULL;
    uint32_t c = crc32_of(buf.buf, buf.len);
    PyBuffer_Release(&buf);
    return PyLong_FromUnsignedLong(c);
}

/* ---- the reduce side: merge, decode, and write text -------------------- */

/* merge_runs(runs) -> list
 *
 * The records of `runs` (lists of (bytes, bytes), each already sorted by
 * key then value) in one sorted list: the same list as concatenating them
 * and calling sort(), by a k-way heap merge with memcmp comparisons, about
 * log2(k) cheap comparisons a record where Timsort spends several rich
 * comparisons.  A record is type-checked when it comes to the head of its
 * run, before it is ever compared. */
typedef struct {
    PyObject **items;
    Py_ssize_t pos, len;
} Run;

static inline int
run_less(const Run *a, const Run *b)
{
    return compare_records(&a->items[a->pos], &b->items[b->pos]) < 0;
}

static void
sift_down(Run *runs, Py_ssize_t *heap, Py_ssize_t n, Py_ssize_t i)
{
    Py_ssize_t top = heap[i];
    for (;;) {
        Py_ssize_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && run_less(&runs[heap[c + 1]], &runs[heap[c]]))
            c++;
        if (!run_less(&runs[heap[c]], &runs[top]))
            break;
        heap[i] = heap[c];
        i = c;
    }
    heap[i] = top;
}

static PyObject *
merge_runs(PyObject *self, PyObject *arg)
{
    (void)self;
    if (!PyList_CheckExact(arg)) {
        PyErr_SetString(PyExc_TypeError, "merge_runs: runs must be a list of lists");
        return NULL;
    }
    Py_ssize_t k = PyList_GET_SIZE(arg), total = 0, n = 0;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *run = PyList_GET_ITEM(arg, i);
        if (!PyList_CheckExact(run)) {
            PyErr_SetString(PyExc_TypeError, "merge_runs: runs must be a list of lists");
            return NULL;
        }
        total += PyList_GET_SIZE(run);
    }
    PyObject *out = PyList_New(total);
    Run *runs = PyMem_Calloc((size_t)(k ? k : 1), sizeof(Run));
    Py_ssize_t *heap = PyMem_Calloc((size_t)(k ? k : 1), sizeof(Py_ssize_t));
    if (out == NULL || runs == NULL || heap == NULL) {
        Py_XDECREF(out);
        PyMem_Free(runs);
        PyMem_Free(heap);
        return PyErr_NoMemory();
    }
    /* No Python code runs below, so the lists cannot change under us. */
    for (Py_ssize_t i = 0; i < k; i++) {
        PyListObject *run = (PyListObject *)PyList_GET_ITEM(arg, i);
        runs[i].items = run->ob_item;
        runs[i].len = Py_SIZE(run);
        if (runs[i].len > 0) {
            if (!is_record(runs[i].items[0]))
                goto bad;
            heap[n++] = i;
        }
    }
    for (Py_ssize_t i = n / 2 - 1; i >= 0; i--)
        sift_down(runs, heap, n, i);
    for (Py_ssize_t o = 0; n > 0; o++) {
        Run *r = &runs[heap[0]];
        PyList_SET_ITEM(out, o, Py_NewRef(r->items[r->pos]));
        if (++r->pos == r->len)
            heap[0] = heap[--n];
        else if (!is_record(r->items[r->pos]))
            goto bad;
        if (n > 1)
            sift_down(runs, heap, n, 0);
    }
    PyMem_Free(runs);
    PyMem_Free(heap);
    return out;

bad:
    PyMem_Free(runs);
    PyMem_Free(heap);
    Py_DECREF(out); /* its unset items are NULL, which list_dealloc skips */
    PyErr_SetString(PyExc_TypeError, "merge_runs: records must be (bytes, bytes) tuples");
    return NULL;
}

/* A JSON string's body that decodes to itself: printable ASCII without a
 * quote or a backslash. */
static inline int
plain_ascii(const unsigned char *p, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e || p[i] == '"' || p[i] == '\\')
            return 0;
    return 1;
}

static PyObject *
ascii_str(const unsigned char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_New(n, 127);
    if (s != NULL)
        memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    return s;
}

/* An int of at most 18 digits, optionally negative, and nothing else;
 * with `json`, also no leading zero (json rejects "07", int() takes it). */
static int
parse_small_int(const unsigned char *p, Py_ssize_t n, long long *out, int json)
{
    Py_ssize_t i = n > 0 && p[0] == '-';
    if (n - i < 1 || n - i > 18 || (json && n - i > 1 && p[i] == '0'))
        return 0;
    long long x = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        x = x * 10 + (p[i] - '0');
    }
    *out = p[0] == '-' ? -x : x;
    return 1;
}

/* A JSON list of small ints and plain ASCII strings, p[0] == '[' and
 * p[n-1] == ']'; NULL without an error when it is any other list. */
static PyObject *
decode_list(const unsigned char *p, Py_ssize_t n)
{
    PyObject *list = PyList_New(0);
    if (list == NULL || n == 2)
        return list;
    Py_ssize_t i = 1;
    for (;;) {
        PyObject *item = NULL;
        if (p[i] == '"') {
            Py_ssize_t j = i + 1;
            while (j < n - 1 && p[j] != '"' && p[j] != '\\' && p[j] >= 0x20 && p[j] <= 0x7e)
                j++;
            if (j >= n - 1 || p[j] != '"')
                break;
            item = ascii_str(p + i + 1, j - i - 1);
            i = j + 1;
        }
        else {
            Py_ssize_t j = i;
            while (j < n - 1 && p[j] != ',')
                j++;
            long long x;
            if (!parse_small_int(p + i, j - i, &x, 1))
                break;
            item = PyLong_FromLongLong(x);
            i = j;
        }
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
        if (i == n - 1)
            return list;
        if (p[i] != ',' || i + 1 >= n - 1)
            break;
        i++;
    }
    Py_DECREF(list);
    return NULL;
}

/* decode_value(fallback, b) -> value
 *
 * codec.decode_value for the common encodings, without a Python frame or
 * the JSON scanner: a small int, a plain ASCII string, or a list of those.
 * Anything else, including every escape and every error, is
 * fallback(b): codec's own decoder, which keeps the one definition of the
 * format.  On what it takes, it returns what json would. */
static PyObject *
decode_value_with(PyObject *fallback, PyObject *b)
{
    if (PyBytes_CheckExact(b) && PyBytes_GET_SIZE(b) > 0) {
        const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(b);
        Py_ssize_t n = PyBytes_GET_SIZE(b);
        long long x;
        if ((p[0] == '-' || (p[0] >= '0' && p[0] <= '9')) && parse_small_int(p, n, &x, 0))
            return PyLong_FromLongLong(x);
        if (p[0] == '"' && n >= 2 && p[n - 1] == '"' && plain_ascii(p + 1, n - 2))
            return ascii_str(p + 1, n - 2);
        if (p[0] == '[' && n >= 2 && p[n - 1] == ']') {
            PyObject *list = decode_list(p, n);
            if (list != NULL || PyErr_Occurred())
                return list;
        }
    }
    return PyObject_CallOneArg(fallback, b);
}

static PyObject *
decode_value(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode_value(fallback, b)");
        return NULL;
    }
    return decode_value_with(args[0], args[1]);
}

/* dumps_text(fallback, x) -> str
 *
 * codec.dumps_text (the JSON text of a key or value in an output file)
 * for a plain ASCII str, an exact int and a list of ASCII strs; anything
 * else is fallback(x). */
static PyObject *
dumps_text_with(PyObject *fallback, PyObject *x)
{
    if (PyUnicode_CheckExact(x) && PyUnicode_IS_ASCII(x)) {
        Py_ssize_t n = PyUnicode_GET_LENGTH(x);
        const unsigned char *c = PyUnicode_1BYTE_DATA(x);
        if (plain_ascii(c, n)) {
            PyObject *s = PyUnicode_New(n + 2, 127);
            if (s != NULL) {
                unsigned char *o = PyUnicode_1BYTE_DATA(s);
                o[0] = '"';
                memcpy(o + 1, c, (size_t)n);
                o[n + 1] = '"';
            }
            return s;
        }
    }
    else if (PyLong_CheckExact(x)) {
        return PyObject_Str(x);
    }
    else if (PyList_CheckExact(x)) {
        Py_ssize_t size = ascii_str_list_size(x);
        if (size >= 0) {
            PyObject *s = PyUnicode_New(size, 127);
            if (s != NULL)
                write_ascii_str_list(x, (char *)PyUnicode_1BYTE_DATA(s));
            return s;
        }
    }
    return PyObject_CallOneArg(fallback, x);
}

static PyObject *
dumps_text(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "dumps_text(fallback, x)");
        return NULL;
    }
    return dumps_text_with(args[0], args[1]);
}

/* text_line(fallback, key, value) -> str
 *
 * A line of output text, dumps_text(key) TAB dumps_text(value) LF, made
 * in one piece where an f-string made it in three calls and a join. */
static PyObject *
text_line(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    (void)self;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "text_line(fallback, key, value)");
        return NULL;
    }
    PyObject *k = dumps_text_with(args[0], args[1]);
    if (k == NULL)
        return NULL;
    PyObject *v = dumps_text_with(args[0], args[2]);
    if (v == NULL) {
        Py_DECREF(k);
        return NULL;
    }
    PyObject *line;
    if (PyUnicode_CheckExact(k) && PyUnicode_CheckExact(v) && PyUnicode_IS_ASCII(k) && PyUnicode_IS_ASCII(v)) {
        Py_ssize_t kn = PyUnicode_GET_LENGTH(k), vn = PyUnicode_GET_LENGTH(v);
        line = PyUnicode_New(kn + vn + 2, 127);
        if (line != NULL) {
            char *o = (char *)PyUnicode_1BYTE_DATA(line);
            memcpy(o, PyUnicode_1BYTE_DATA(k), (size_t)kn);
            o[kn] = '\t';
            memcpy(o + kn + 1, PyUnicode_1BYTE_DATA(v), (size_t)vn);
            o[kn + vn + 1] = '\n';
        }
    }
    else if (PyUnicode_Check(k) && PyUnicode_Check(v)) {
        line = PyUnicode_FromFormat("%U\t%U\n", k, v);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "text_line: dumps_text must return str");
        line = NULL;
    }
    Py_DECREF(k);
    Py_DECREF(v);
    return line;
}

/* text_lines(pairs, fallback, buf, limit, counts) -> item
 *
 * Output text for what an iterator yields: each exact 2-tuple becomes its
 * text_line, appended to buf (a list of str), until the lines appended
 * reach `limit` characters (returns Ellipsis), the iterator ends (None),
 * or it yields anything else (returned, for the Python loop, which holds
 * the one definition of a pair and of its errors).  counts = [lines,
 * characters] is added to as it goes, also when an error stops it. */
static PyObject *
text_lines(PyObject *self, PyObject *args)
{
    PyObject *pairs, *fallback, *buf, *counts;
    Py_ssize_t limit, lines = 0, chars = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "OOO!nO!", &pairs, &fallback, &PyList_Type, &buf, &limit, &PyList_Type, &counts))
        return NULL;
    if (!PyIter_Check(pairs) || PyList_GET_SIZE(counts) != 2) {
        PyErr_SetString(PyExc_TypeError, "text_lines: pairs must be an iterator and counts a list of two ints");
        return NULL;
    }
    PyObject *result = NULL;
    while (chars < limit) {
        PyObject *item = PyIter_Next(pairs);
        if (item == NULL) {
            if (!PyErr_Occurred())
                result = Py_NewRef(Py_None);
            goto done;
        }
        if (!PyTuple_CheckExact(item) || PyTuple_GET_SIZE(item) != 2) {
            result = item;
            goto done;
        }
        PyObject *targs[3] = {fallback, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1)};
        PyObject *line = text_line(NULL, targs, 3);
        Py_DECREF(item);
        if (line == NULL)
            goto done;
        int rc = PyList_Append(buf, line);
        Py_ssize_t len = PyUnicode_GET_LENGTH(line);
        Py_DECREF(line);
        if (rc < 0)
            goto done;
        lines++;
        chars += len;
    }
    result = Py_NewRef(Py_Ellipsis);
done:;
    Py_ssize_t add[2] = {lines, chars};
    if (add_counts(counts, add) < 0) {
        Py_XDECREF(result);
        return NULL;
    }
    return result;
}

/* ---- KeyGroups: a reduce task's merged records, grouped by key -----------
 *
 * KeyGroups(records, decode_key, decode_value, values_are_keys) yields
 * (key, values) for each run of equal key bytes in a sorted stream of
 * (bytes, bytes) records: itertools.groupby with the key and every value
 * decoded, in C for str keys and the common values, the codec's Python
 * functions (the fallbacks) for the rest.  As with groupby, moving to the
 * next key skips what is left of the last key's values, and a key's
 * values iterator ends when its key does.  values_are_keys: the values
 * are encoded as keys (SORT_VALUES), so decode_key decodes them.
 */
typedef struct {
    PyObject_HEAD
    PyObject *stream, *decode_key, *decode_value;
    int values_are_keys, exhausted;
    PyObject *cur; /* the next record not yet taken, or NULL */
    PyObject *key; /* the key bytes of the last group started */
    Py_ssize_t group; /* how many groups started */
} KeyGroups;

typedef struct {
    PyObject_HEAD
    KeyGroups *parent;
    PyObject *key; /* NULL once ended */
    Py_ssize_t group; /* its parent's group number: a later group ends it, as groupby's do, even with equal key bytes */
} GroupValues;

static PyTypeObject KeyGroupsType, GroupValuesType;

static int
kg_fetch(KeyGroups *g)
{
    if (g->cur != NULL)
        return 1;
    if (g->exhausted)
        return 0;
    PyObject *r = PyIter_Next(g->stream);
    if (r == NULL) {
        if (PyErr_Occurred())
            return -1;
        g->exhausted = 1;
        return 0;
    }
    if (!is_record(r)) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "KeyGroups: records must be (bytes, bytes) tuples");
        return -1;
    }
    g->cur = r;
    return 1;
}

static inline int
same_bytes(PyObject *a, PyObject *b)
{
    Py_ssize_t n = PyBytes_GET_SIZE(a);
    return a == b || (n == PyBytes_GET_SIZE(b) && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)n) == 0);
}

static PyObject *
decode_key_with(PyObject *fallback, PyObject *kb)
{
    if (PyBytes_GET_SIZE(kb) >= 1 && PyBytes_AS_STRING(kb)[0] == 0x05)
        return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(kb) + 1, PyBytes_GET_SIZE(kb) - 1, "surrogatepass");
    return PyObject_CallOneArg(fallback, kb);
}

static PyObject *
key_groups_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *stream, *dk, *dv;
    int vk;
    if (kwds != NULL && PyDict_GET_SIZE(kwds)) {
        PyErr_SetString(PyExc_TypeError, "KeyGroups takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "OOOp", &stream, &dk, &dv, &vk))
        return NULL;
    PyObject *it = PyObject_GetIter(stream);
    if (it == NULL)
        return NULL;
    KeyGroups *g = (KeyGroups *)type->tp_alloc(type, 0);
    if (g == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    g->stream = it;
    g->decode_key = Py_NewRef(dk);
    g->decode_value = Py_NewRef(dv);
    g->values_are_keys = vk;
    return (PyObject *)g;
}

static void
key_groups_dealloc(KeyGroups *g)
{
    Py_XDECREF(g->stream);
    Py_XDECREF(g->decode_key);
    Py_XDECREF(g->decode_value);
    Py_XDECREF(g->cur);
    Py_XDECREF(g->key);
    Py_TYPE(g)->tp_free((PyObject *)g);
}

static PyObject *
key_groups_next(KeyGroups *g)
{
    int rc;
    while ((rc = kg_fetch(g)) > 0) {
        if (g->key == NULL || !same_bytes(PyTuple_GET_ITEM(g->cur, 0), g->key))
            break;
        Py_CLEAR(g->cur); /* the rest of the last key's values */
    }
    if (rc <= 0)
        return NULL;
    PyObject *kb = PyTuple_GET_ITEM(g->cur, 0);
    Py_XSETREF(g->key, Py_NewRef(kb));
    g->group++;
    PyObject *key = decode_key_with(g->decode_key, kb);
    if (key == NULL)
        return NULL;
    GroupValues *v = PyObject_New(GroupValues, &GroupValuesType);
    if (v == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    v->parent = (KeyGroups *)Py_NewRef(g);
    v->key = Py_NewRef(g->key);
    v->group = g->group;
    PyObject *pair = PyTuple_New(2);
    if (pair == NULL) {
        Py_DECREF(key);
        Py_DECREF(v);
        return NULL;
    }
    PyTuple_SET_ITEM(pair, 0, key);
    PyTuple_SET_ITEM(pair, 1, (PyObject *)v);
    return pair;
}

static void
group_values_dealloc(GroupValues *v)
{
    Py_XDECREF(v->parent);
    Py_XDECREF(v->key);
    PyObject_Free(v);
}

static PyObject *
group_values_next(GroupValues *v)
{
    if (v->key == NULL)
        return NULL;
    KeyGroups *g = v->parent;
    if (v->group != g->group) {
        Py_CLEAR(v->key);
        return NULL;
    }
    int rc = kg_fetch(g);
    if (rc < 0)
        return NULL;
    if (rc == 0 || !same_bytes(PyTuple_GET_ITEM(g->cur, 0), v->key)) {
        Py_CLEAR(v->key);
        return NULL;
    }
    PyObject *vb = Py_NewRef(PyTuple_GET_ITEM(g->cur, 1));
    Py_CLEAR(g->cur);
    PyObject *value = g->values_are_keys ? decode_key_with(g->decode_key, vb) : decode_value_with(g->decode_value, vb);
    Py_DECREF(vb);
    return value;
}

static PyTypeObject KeyGroupsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.KeyGroups",
    .tp_basicsize = sizeof(KeyGroups),
    .tp_dealloc = (destructor)key_groups_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "KeyGroups(records, decode_key, decode_value, values_are_keys): (key, values) for each key of a sorted stream.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)key_groups_next,
    .tp_new = key_groups_new,
};

static PyTypeObject GroupValuesType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "mrargo.runtime._speedups.GroupValues",
    .tp_basicsize = sizeof(GroupValues),
    .tp_dealloc = (destructor)group_values_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)group_values_next,
};

static PyMethodDef methods[] = {
    {"group_pairs", group_pairs, METH_VARARGS, "Count (str, 1) pairs and group other (str, value) pairs from an iterator."},
    {"iter_values", iter_values, METH_O, "(count, iterator) of a key's waiting values, each repeat written out."},
    {"combine_counts", combine_counts, METH_VARARGS, "Run the combiner over counted keys into a chunk of pairs."},
    {"bucket_pairs", bucket_pairs, METH_VARARGS, "Encode and partition (str, value) pairs into buffers."},
    {"unpack_records", unpack_records, METH_VARARGS, "Unpack a run-file block payload into (bytes, bytes) records."},
    {"merge_runs", merge_runs, METH_O, "Merge sorted lists of (bytes, bytes) records into one sorted list."},
    {"decode_value", (PyCFunction)(void (*)(void))decode_value, METH_FASTCALL, "decode_value(fallback, b): codec.decode_value, in C for small ints, plain ASCII strs and lists of them."},
    {"dumps_text", (PyCFunction)(void (*)(void))dumps_text, METH_FASTCALL, "dumps_text(fallback, x): codec.dumps_text, in C for plain ASCII strs, ints and lists of ASCII strs."},
    {"text_lines", text_lines, METH_VARARGS, "Output text lines for an iterator's pairs, into a list."},
    {"text_line", (PyCFunction)(void (*)(void))text_line, METH_FASTCALL, "text_line(fallback, key, value): dumps_text(key) TAB dumps_text(value) LF."},
    {"crc32", crc32_py, METH_VARARGS, "CRC-32 as zlib.crc32 computes it (for tests)."},
    {"_key_hash", key_hash_py, METH_O, "GroupTable's hash of a str (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "mrargo.runtime._speedups", "The hot loops of map and reduce tasks, in C.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    crc_init();
    one = PyLong_FromLong(1);
    if (one == NULL || PyType_Ready(&GroupTableType) < 0 || PyType_Ready(&RepeatType) < 0 || PyType_Ready(&RepeatsIterType) < 0 ||
        PyType_Ready(&RecordsType) < 0 || PyType_Ready(&KeyGroupsType) < 0 || PyType_Ready(&GroupValuesType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "GroupTable", (PyObject *)&GroupTableType) < 0 || PyModule_AddObjectRef(m, "Repeat", (PyObject *)&RepeatType) < 0 ||
        PyModule_AddObjectRef(m, "Records", (PyObject *)&RecordsType) < 0 || PyModule_AddObjectRef(m, "KeyGroups", (PyObject *)&KeyGroupsType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
