/*
 * ray_version.c
 *		Parse Ray version strings and answer version-dependent wire questions.
 *
 * The boundaries below are the first release branch that carries each
 * change (Ray's release branches; see test/fixtures/ray-wire/README.md).
 * A development build of master reports 3.0.0.dev0, which compares above
 * every release.
 */
#include "ray_version.h"

#include <ctype.h>
#include <stdlib.h>

static bool
parse_component(const char **p, int *out)
{
	long		val = 0;
	int			digits = 0;

	while (isdigit((unsigned char) **p))
	{
		val = val * 10 + (**p - '0');
		if (val > 100000)
			return false;
		(*p)++;
		digits++;
	}
	if (digits == 0)
		return false;
	*out = (int) val;
	return true;
}

bool
ray_version_parse(const char *text, RayVersion *out)
{
	const char *p = text;
	RayVersion	v = {0, 0, 0};

	if (text == NULL)
		return false;
	while (*p == ' ')
		p++;
	if (!parse_component(&p, &v.major) || *p++ != '.' ||
		!parse_component(&p, &v.minor))
		return false;
	if (*p == '.')
	{
		p++;
		if (!parse_component(&p, &v.patch))
			return false;
	}
	/* Anything after the numbers (".dev0", "rc1", "+abc") is a suffix. */
	if (*p != '\0' && *p != '.' && *p != '-' && *p != '+' && !isalpha((unsigned char) *p))
		return false;
	*out = v;
	return true;
}

bool
ray_version_at_least(const RayVersion *v, int major, int minor)
{
	return v->major > major || (v->major == major && v->minor >= minor);
}

bool
ray_version_new_task_status(const RayVersion *v)
{
	return ray_version_at_least(v, 2, 39);
}

RayFilterLayout
ray_version_filter_layout(const RayVersion *v)
{
	return ray_version_at_least(v, 2, 41) ? RAY_FILTERS_PREDICATE : RAY_FILTERS_SCALAR;
}

bool
ray_version_has_state_filter(const RayVersion *v)
{
	return ray_version_at_least(v, 2, 32);
}

bool
ray_version_name_filter_ignores_case(const RayVersion *v)
{
	return ray_version_at_least(v, 2, 32);
}
