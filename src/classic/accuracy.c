/* accuracy.c: classification accuracy, the fraction of predictions that match
 * the labels (used by kNN, the linear classifiers and the trainer's reports). */
#include "convnet/classic.h"

double cn_accuracy(const int *pred, const int *y, int n)
{
    if (n <= 0)
        return 0.0;
    CN_ASSERT(pred != NULL && y != NULL);
    long hits = 0;
    for (int i = 0; i < n; i++)
        hits += pred[i] == y[i];
    return (double)hits / (double)n;
}
