/* tests/support.h: helpers shared by the test binaries (linked into each):
 * temporary folders that tests create and remove. */
#ifndef CONVNET_TESTS_SUPPORT_H
#define CONVNET_TESTS_SUPPORT_H

#include <stddef.h>

/* tst_tmpdir_make: create a new folder $TMPDIR/cn_test_<tag>_XXXXXX (TMPDIR
 * defaults to /tmp) and write its path into dir (size bytes). Returns 0 on
 * success, -1 on failure (errno set). */
int tst_tmpdir_make(char *dir, size_t size, const char *tag);

/* tst_tmpdir_remove: remove every plain file in dir, then dir itself (one level:
 * tests create no subfolders). A missing or empty path is a no-op. */
void tst_tmpdir_remove(const char *dir);

#endif /* CONVNET_TESTS_SUPPORT_H */
