/*
 * Where this daemon's own installation keeps its plugins and default
 * configuration. An installed binary finds them relative to its executable,
 * so `cmake --install --prefix P` (and DESTDIR) relocates them with it; a
 * binary in the build tree uses the tree's plugins; the configure-time
 * paths are the last resort.
 */
#ifndef FWUPGW_PATHS_H
#define FWUPGW_PATHS_H

/* The plugin directory of this installation or build tree. Never NULL. */
const char *fwupd_default_plugin_dir(void);

/* The default configuration file, as the installation recorded it. Never
 * NULL. */
const char *fwupd_default_config(void);

#endif
