/*
 * File system helpers.
 */
#ifndef FWUPGW_FS_H
#define FWUPGW_FS_H

/* mkdir -p: creates the missing directories of path with mode; existing
 * ones are fine, also where we may not write. 0, or -1 with errno. */
int fwup_mkdirs(const char *path, unsigned mode);
/* The same for the directories above path's last component. */
int fwup_mkdirs_parent(const char *path, unsigned mode);

#endif
