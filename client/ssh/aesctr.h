/*
 * aesctr: AES-CTR for libssh2 with the keystream made in bulk (see aesctr.c).
 */
#ifndef SLUICE_AESCTR_H
#define SLUICE_AESCTR_H

/* How many cipher contexts have used the bulk keystream; 0 means it is not in play. */
unsigned long aesctr_contexts(void);

#endif
