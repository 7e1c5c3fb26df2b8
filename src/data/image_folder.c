/* image_folder.c: datasets of PNG/JPEG files: the ImageFolder layout
 * (DIR/<class>/<file>, classes and files sorted bytewise) and list files ("path
 * label" per line, with classes.txt for names). Both build a list of (path, label)
 * samples, then decode them one by one into a cn_dataset (n, c, h, w), stopping
 * at or skipping undecodable files per the caller's policy. Paths are plain data:
 * no shell, any byte but NUL and '/' in a name, lengths limited only by the
 * system (ENAMETOOLONG is reported as such). */
#include "convnet/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define IF_PATH_SHOWN 160
#define IF_MAX_LABEL 100000             /* largest label a list file may use */
#define IF_MAX_LIST_BYTES ((size_t)1 << 30) /* list file / classes.txt cap */
#define IF_MAX_CLASS_NAME 4096

/* One sample: a path (owned) and its label; line and col place the label in the
 * list file (0 for folders) for messages. */
typedef struct if_sample {
    char *path;
    int label;
    int line, col;
} if_sample;

/* A growable array of samples. */
typedef struct if_samples {
    if_sample *v;
    int n, cap;
} if_samples;

/* A growable array of owned strings. */
typedef struct if_names {
    char **v;
    int n, cap;
} if_names;

static const char *shown_path(const char *path, char *buf, size_t size)
{
    size_t n = strlen(path);
    if (n <= IF_PATH_SHOWN) return path;
    snprintf(buf, size, "%.80s...%s (a %zu-character path)", path, path + n - 60, n);
    return buf;
}

static void names_free(if_names *a)
{
    for (int i = 0; i < a->n; i++) cn_free(a->v[i]);
    cn_free(a->v);
    memset(a, 0, sizeof *a);
}

/* Append s (taken over: freed on failure). -1 on allocation failure. */
static int names_push(if_names *a, char *s)
{
    if (!s) return -1;
    if (a->n == a->cap) {
        if (a->cap > INT_MAX / 2 - 8) {
            cn_free(s);
            return -1;
        }
        int cap = a->cap ? a->cap * 2 : 16;
        char **v = cn_realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            cn_free(s);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    return 0;
}

static void samples_free(if_samples *a)
{
    for (int i = 0; i < a->n; i++) cn_free(a->v[i].path);
    cn_free(a->v);
    memset(a, 0, sizeof *a);
}

/* Append (path, label, line, col), taking path over. -1 on allocation failure. */
static int samples_push(if_samples *a, char *path, int label, int line, int col)
{
    if (!path) return -1;
    if (a->n == a->cap) {
        if (a->cap > INT_MAX / 2 - 8) {
            cn_free(path);
            return -1;
        }
        int cap = a->cap ? a->cap * 2 : 64;
        if_sample *v = cn_realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) {
            cn_free(path);
            return -1;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n].path = path;
    a->v[a->n].label = label;
    a->v[a->n].line = line;
    a->v[a->n].col = col;
    a->n++;
    return 0;
}

/* dir + "/" + name as a new string (no separator added when dir is empty or
 * already ends in '/'). */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    int sep = a > 0 && dir[a - 1] != '/';
    char *s = cn_malloc(a + (size_t)sep + b + 1);
    if (!s) return NULL;
    memcpy(s, dir, a);
    if (sep) s[a] = '/';
    memcpy(s + a + (size_t)sep, name, b + 1);
    return s;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b); /* bytewise (unsigned char) */
}

static int is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    return strcasecmp(dot, ".png") == 0 || strcasecmp(dot, ".jpg") == 0 ||
           strcasecmp(dot, ".jpeg") == 0;
}

/* The entries of dir that are folders (want_dirs) or image files (otherwise),
 * without hidden names, sorted bytewise. */
static cn_status list_dir(const char *dir, int want_dirs, if_names *out, cn_error *err)
{
    char sbuf[IF_PATH_SHOWN + 96];
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return cn_error_set(err, CN_ERR_IO, "%s: cannot open folder: %s",
                            shown_path(dir, sbuf, sizeof sbuf), strerror(errno));
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno != 0) {
                int en = errno;
                closedir(d);
                names_free(out);
                return cn_error_set(err, CN_ERR_IO, "%s: cannot read folder: %s",
                                    shown_path(dir, sbuf, sizeof sbuf), strerror(en));
            }
            break;
        }
        if (e->d_name[0] == '.') continue;
        if (!want_dirs && !is_image_name(e->d_name)) continue;
        char *full = join(dir, e->d_name);
        if (!full) goto nomem;
        struct stat sb;
        /* stat follows links; an entry that cannot be stat'ed (a dangling link, a
         * path too long) is kept as a file so that loading reports it. */
        int ok = stat(full, &sb) == 0;
        cn_free(full);
        int is_dir = ok && S_ISDIR(sb.st_mode);
        if (want_dirs != is_dir) continue;
        if (names_push(out, cn_strdup(e->d_name)) != 0) goto nomem;
    }
    closedir(d);
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, cmp_str);
    return CN_OK;
nomem:
    closedir(d);
    names_free(out);
    return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory listing the folder",
                        shown_path(dir, sbuf, sizeof sbuf));
}

/* Decode every sample into a new dataset with k classes named names[0..k). */
static cn_status load_samples(const if_samples *s, const char *origin,
                              const cn_image_opts *opts, const char *const *names, int k,
                              cn_dataset **out, int *skipped, cn_error *err)
{
    char sbuf[IF_PATH_SHOWN + 96];
    const char *shown = shown_path(origin, sbuf, sizeof sbuf);
    cn_dataset *ds = NULL;
    cn_image_opts o = *opts;
    int kept = 0, nskip = 0;
    cn_error first = {CN_OK, ""};
    for (int i = 0; i < s->n; i++) {
        cn_image img;
        cn_error e;
        cn_error_clear(&e);
        cn_status st = cn_image_load(s->v[i].path, &o, &img, &e);
        if (st != CN_OK) {
            if (st == CN_ERR_NOMEM || o.on_error == CN_IMAGE_ERRORS_STOP) {
                cn_dataset_free(ds);
                if (err) {
                    *err = e;
                    if (s->v[i].line > 0) cn_error_prefix(err, "%s:%d: ", shown, s->v[i].line);
                }
                return st;
            }
            if (nskip++ == 0) first = e;
            continue;
        }
        if (!ds) {
            cn_error e2;
            cn_error_clear(&e2);
            ds = cn_dataset_new(s->n, img.c, img.h, img.w, k, &e2);
            if (!ds) {
                cn_image_free(&img);
                if (err) {
                    *err = e2;
                    cn_error_prefix(err, "%s: ", shown);
                }
                return e2.code != CN_OK ? e2.code : CN_ERR_NOMEM;
            }
            /* Every later image is brought to the first one's size. */
            o.height = img.h;
            o.width = img.w;
        }
        size_t per = (size_t)img.c * (size_t)img.h * (size_t)img.w;
        memcpy(ds->images->data + (size_t)kept * per, img.data, per * sizeof *img.data);
        ds->labels[kept] = s->v[i].label;
        kept++;
        cn_image_free(&img);
    }
    if (skipped) *skipped = nskip;
    if (!ds) {
        if (s->n == 0)
            return cn_error_set(err, CN_ERR_FORMAT, "%s: no image files", shown);
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: none of the %d image files could be decoded (first error: %s)",
                            shown, s->n, first.msg);
    }
    if (kept < s->n) {
        /* Skipped files leave unused records at the end: shrink the dataset to the
         * kept ones in place (the buffers stay, only the counts change). */
        ds->n = kept;
        ds->images->shape[0] = kept;
        ds->images->numel = (size_t)kept * (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
    }
    if (names) {
        cn_status st = cn_dataset_set_class_names(ds, names, k, err);
        if (st != CN_OK) {
            cn_dataset_free(ds);
            return st;
        }
    }
    *out = ds;
    return CN_OK;
}

cn_status cn_dataset_load_image_folder(const char *dir, const cn_image_opts *opts,
                                       cn_dataset **out, int *skipped, cn_error *err)
{
    if (out) *out = NULL;
    if (skipped) *skipped = 0;
    if (!dir || !out) return cn_error_set(err, CN_ERR_ARG, "image folder: NULL argument");
    cn_status st = cn_image_opts_check(opts, err);
    if (st != CN_OK) return st;
    char sbuf[IF_PATH_SHOWN + 96];
    if_names classes;
    st = list_dir(dir, 1, &classes, err);
    if (st != CN_OK) return st;
    if (classes.n == 0) {
        names_free(&classes);
        return cn_error_set(err, CN_ERR_FORMAT,
                            "%s: no class folders (expected DIR/<class>/<image>.png|.jpg)",
                            shown_path(dir, sbuf, sizeof sbuf));
    }
    if_samples samples = {NULL, 0, 0};
    for (int c = 0; c < classes.n; c++) {
        char *cdir = join(dir, classes.v[c]);
        if (!cdir) {
            st = cn_error_set(err, CN_ERR_NOMEM, "image folder: out of memory");
            goto done;
        }
        if_names files;
        st = list_dir(cdir, 0, &files, err);
        if (st != CN_OK) {
            cn_free(cdir);
            goto done;
        }
        for (int i = 0; i < files.n; i++) {
            if (samples_push(&samples, join(cdir, files.v[i]), c, 0, 0) != 0) {
                names_free(&files);
                cn_free(cdir);
                st = cn_error_set(err, CN_ERR_NOMEM, "image folder: out of memory");
                goto done;
            }
        }
        names_free(&files);
        cn_free(cdir);
    }
    st = load_samples(&samples, dir, opts, (const char *const *)classes.v, classes.n, out,
                      skipped, err);
done:
    samples_free(&samples);
    names_free(&classes);
    return st;
}

/* ------------------------------------------------------------------ list files */

/* Read a whole text file (at most IF_MAX_LIST_BYTES) into a NUL-terminated
 * buffer. *missing is set (and CN_OK returned) when it does not exist and
 * missing is non-NULL. */
static cn_status read_text(const char *path, char **text, size_t *len, int *missing,
                           cn_error *err)
{
    char sbuf[IF_PATH_SHOWN + 96];
    const char *shown = shown_path(path, sbuf, sizeof sbuf);
    *text = NULL;
    *len = 0;
    if (missing) *missing = 0;
    int fd;
    do {
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (missing && errno == ENOENT) {
            *missing = 1;
            return CN_OK;
        }
        return cn_error_set(err, CN_ERR_IO, "%s: cannot open: %s", shown, strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: cannot stat: %s", shown, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return cn_error_set(err, CN_ERR_IO, "%s: %s", shown,
                            S_ISDIR(sb.st_mode) ? strerror(EISDIR) : "not a regular file");
    }
    if ((uintmax_t)sb.st_size > (uintmax_t)IF_MAX_LIST_BYTES) {
        close(fd);
        return cn_error_set(err, CN_ERR_RANGE, "%s: file is %jd bytes, above the limit of %zu",
                            shown, (intmax_t)sb.st_size, IF_MAX_LIST_BYTES);
    }
    size_t size = (size_t)sb.st_size, got = 0;
    char *buf = cn_malloc(size + 1); // (size + 1)
    if (!buf) {
        close(fd);
        return cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", shown);
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            cn_free(buf);
            close(fd);
            return cn_error_set(err, CN_ERR_IO, "%s: byte %zu: read failed: %s", shown, got,
                                strerror(e));
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *text = buf;
    *len = got;
    return CN_OK;
}

static int is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* The folder part of path ("." when it has none), as a new string. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return cn_strdup(".");
    if (slash == path) return cn_strdup("/");
    size_t n = (size_t)(slash - path);
    char *d = cn_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* Read classes.txt: one name per line, trailing blanks and CR stripped, blank
 * lines ignored. */
static cn_status read_classes(const char *path, if_names *names, int *found, cn_error *err)
{
    char sbuf[IF_PATH_SHOWN + 96];
    const char *shown = shown_path(path, sbuf, sizeof sbuf);
    memset(names, 0, sizeof *names);
    char *text;
    size_t len;
    int missing = 0;
    *found = 0;
    cn_status st = read_text(path, &text, &len, &missing, err);
    if (st != CN_OK || missing) return st;
    *found = 1;
    size_t pos = 0;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    int line = 1;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        size_t e = end;
        while (e > pos && is_blank(text[e - 1])) e--;
        if (memchr(text + pos, '\0', e - pos)) {
            st = cn_error_set(err, CN_ERR_FORMAT, "%s:%d: NUL byte in a class name",
                              shown, line);
            goto fail;
        }
        if (e - pos > IF_MAX_CLASS_NAME) {
            st = cn_error_set(err, CN_ERR_FORMAT,
                              "%s:%d: class name longer than %d bytes", shown, line,
                              IF_MAX_CLASS_NAME);
            goto fail;
        }
        if (e > pos) {
            char *s = cn_malloc(e - pos + 1);
            if (s) {
                memcpy(s, text + pos, e - pos);
                s[e - pos] = '\0';
            }
            if (names->n > IF_MAX_LABEL) {
                cn_free(s);
                st = cn_error_set(err, CN_ERR_RANGE, "%s:%d: more than %d class names", shown,
                                  line, IF_MAX_LABEL + 1);
                goto fail;
            }
            if (names_push(names, s) != 0) {
                st = cn_error_set(err, CN_ERR_NOMEM, "%s:%d: out of memory", shown, line);
                goto fail;
            }
        }
        pos = end + 1;
        line++;
    }
    cn_free(text);
    if (names->n == 0) {
        names_free(names);
        return cn_error_set(err, CN_ERR_FORMAT, "%s: no class names", shown);
    }
    return CN_OK;
fail:
    cn_free(text);
    names_free(names);
    return st;
}

/* Parse the list text into samples; *max_label gets the largest label (-1 if
 * none). Paths are resolved against base. */
static cn_status parse_list(const char *text, size_t len, const char *shown, const char *base,
                            if_samples *samples, int *max_label, cn_error *err)
{
    size_t pos = 0;
    *max_label = -1;
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) pos = 3;
    for (int line = 1; pos < len; line++) {
        size_t start = pos, end = pos;
        while (end < len && text[end] != '\n') end++;
        pos = end + 1;
        /* Columns are 1-based byte positions in the line (a BOM is not counted). */
        size_t b = start, e = end;
        while (b < e && is_blank(text[b])) b++;
        while (e > b && is_blank(text[e - 1])) e--;
        if (b == e || text[b] == '#') continue;
        if (memchr(text + b, '\0', e - b))
            return cn_error_set(err, CN_ERR_FORMAT, "%s:%d:%zu: NUL byte", shown,
                                line, (size_t)((const char *)memchr(text + b, '\0', e - b) -
                                               (text + start)) + 1);
        size_t lab = e; /* the label: the last word */
        while (lab > b && !is_blank(text[lab - 1])) lab--;
        size_t col = lab - start + 1;
        if (lab == b)
            return cn_error_set(err, CN_ERR_FORMAT,
                                "%s:%d:%zu: expected 'path label', found one word",
                                shown, line, (size_t)(e - start) + 1);
        long v = 0;
        for (size_t i = lab; i < e; i++) {
            char ch = text[i];
            if (ch < '0' || ch > '9')
                return cn_error_set(err, CN_ERR_FORMAT,
                                    "%s:%d:%zu: label '%.*s' is not a non-negative "
                                    "integer", shown, line, col, (int)(e - lab > 40 ? 40 : e - lab),
                                    text + lab);
            v = v * 10 + (ch - '0');
            if (v > IF_MAX_LABEL)
                return cn_error_set(err, CN_ERR_RANGE,
                                    "%s:%d:%zu: label above %d", shown, line, col,
                                    IF_MAX_LABEL);
        }
        size_t pe = lab;
        while (pe > b && is_blank(text[pe - 1])) pe--;
        size_t plen = pe - b;
        char *rel = cn_malloc(plen + 1);
        if (!rel) return cn_error_set(err, CN_ERR_NOMEM, "%s:%d: out of memory", shown, line);
        memcpy(rel, text + b, plen);
        rel[plen] = '\0';
        char *full = rel[0] == '/' ? rel : join(base, rel);
        if (full != rel) cn_free(rel);
        if (samples_push(samples, full, (int)v, line, (int)col) != 0)
            return cn_error_set(err, CN_ERR_NOMEM, "%s:%d: out of memory", shown, line);
        if ((int)v > *max_label) *max_label = (int)v;
    }
    return CN_OK;
}

cn_status cn_dataset_load_image_list(const char *list_path, const cn_image_opts *opts,
                                     cn_dataset **out, int *skipped, cn_error *err)
{
    if (out) *out = NULL;
    if (skipped) *skipped = 0;
    if (!list_path || !out) return cn_error_set(err, CN_ERR_ARG, "image list: NULL argument");
    cn_status st = cn_image_opts_check(opts, err);
    if (st != CN_OK) return st;
    char sbuf[IF_PATH_SHOWN + 96];
    const char *shown = shown_path(list_path, sbuf, sizeof sbuf);
    char *text = NULL, *base = NULL, *cpath = NULL;
    size_t len = 0;
    if_samples samples = {NULL, 0, 0};
    if_names classes = {NULL, 0, 0};
    int found = 0, max_label = -1;

    st = read_text(list_path, &text, &len, NULL, err);
    if (st != CN_OK) goto done;
    base = dir_of(list_path);
    if (!base) {
        st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", shown);
        goto done;
    }
    st = parse_list(text, len, shown, base, &samples, &max_label, err);
    if (st != CN_OK) goto done;
    if (samples.n == 0) {
        st = cn_error_set(err, CN_ERR_FORMAT, "%s: no entries ('path label' lines)", shown);
        goto done;
    }
    cpath = join(base, "classes.txt");
    if (!cpath) {
        st = cn_error_set(err, CN_ERR_NOMEM, "%s: out of memory", shown);
        goto done;
    }
    st = read_classes(cpath, &classes, &found, err);
    if (st != CN_OK) goto done;
    if (found) {
        for (int i = 0; i < samples.n; i++) {
            if (samples.v[i].label >= classes.n) {
                st = cn_error_set(err, CN_ERR_RANGE,
                                  "%s:%d:%d: label %d out of range: classes.txt "
                                  "names %d classes", shown, samples.v[i].line,
                                  samples.v[i].col, samples.v[i].label, classes.n);
                goto done;
            }
        }
        st = load_samples(&samples, list_path, opts, (const char *const *)classes.v, classes.n,
                          out, skipped, err);
    } else {
        st = load_samples(&samples, list_path, opts, NULL, max_label + 1, out, skipped, err);
    }
done:
    cn_free(text);
    cn_free(base);
    cn_free(cpath);
    samples_free(&samples);
    names_free(&classes);
    return st;
}
