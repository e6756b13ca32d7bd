#include "ctrlseq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

const struct fwup_ctrl_line fwup_line_rts = {.name = "rts", .kind = FWUP_LINE_RTS};
const struct fwup_ctrl_line fwup_line_dtr = {.name = "dtr", .kind = FWUP_LINE_DTR};

static const struct fwup_ctrl_line *find_line(const char *name, size_t len,
                                              const struct fwup_ctrl_line *lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(lines[i].name) == len && strncmp(lines[i].name, name, len) == 0)
            return &lines[i];
    if (len == 3 && strncmp(name, "rts", 3) == 0)
        return &fwup_line_rts;
    if (len == 3 && strncmp(name, "dtr", 3) == 0)
        return &fwup_line_dtr;
    return NULL;
}

int fwup_ctrl_parse_step(const char *text, const struct fwup_ctrl_line *lines, size_t nlines,
                         struct fwup_step *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strchr(text, '=');
    if (eq) {
        size_t len = (size_t)(eq - text);
        while (len && text[len - 1] == ' ')
            len--;
        const char *v = eq + 1;
        while (*v == ' ')
            v++;
        out->kind = FWUP_STEP_SET;
        out->line = find_line(text, len, lines, nlines);
        if (!out->line) {
            snprintf(err, errlen,
                     "step '%s': no control line '%.*s' (rts, dtr or one of the "
                     "device's control_lines)",
                     text, (int)len, text);
            return -1;
        }
        if ((v[0] != '0' && v[0] != '1') || v[1]) {
            snprintf(err, errlen, "step '%s': a line is set to 0 or 1", text);
            return -1;
        }
        out->value = v[0] == '1';
        return 0;
    }
    const char *arg = NULL;
    if (strncmp(text, "delay ", 6) == 0) {
        out->kind = FWUP_STEP_DELAY;
        arg = text + 6;
    } else if (strncmp(text, "break ", 6) == 0) {
        out->kind = FWUP_STEP_BREAK;
        arg = text + 6;
    } else {
        snprintf(err, errlen,
                 "step '%s': expected LINE=0|1, 'delay DURATION' or "
                 "'break DURATION'",
                 text);
        return -1;
    }
    while (*arg == ' ')
        arg++;
    if (fwup_parse_duration_ms(arg, &out->ms) < 0 || out->ms > 60000) {
        snprintf(err, errlen, "step '%s': duration must be like 10ms or 1s (at most 60 s)", text);
        return -1;
    }
    return 0;
}
