/*
 * ray_wire.c
 *		Protobuf wire-format reader: tags, varints, fixed and length-delimited
 *		fields. Tags are read as protobuf-c reads them; groups (wire types 3
 *		and 4) and varints longer than 10 bytes are errors, as in protobuf-c.
 */
#include "ray_wire.h"

static bool
read_varint(RayWireReader *r, uint64_t *out)
{
	uint64_t	v = 0;

	for (int shift = 0; shift < 70; shift += 7)
	{
		uint8_t		b;

		if (r->p >= r->end)
			return false;
		b = *r->p++;
		if (shift < 64)
			v |= (uint64_t) (b & 0x7f) << shift;
		if ((b & 0x80) == 0)
		{
			*out = v;
			return true;
		}
	}
	return false;				/* more than 10 bytes */
}

/*
 * A tag, read exactly as protobuf-c's parse_tag_and_wiretype does, so both
 * decoders see the same field numbers: at most 5 bytes, 32-bit arithmetic
 * (bits beyond are dropped), and refused only when the first byte carries
 * no field-number bits.
 */
static bool
read_tag(RayWireReader *r, uint32_t *number, int *type)
{
	const uint8_t *d = r->p;
	size_t		avail = (size_t) (r->end - r->p);
	size_t		max = avail > 5 ? 5 : avail;
	uint32_t	tag;
	unsigned	shift = 4;

	if (avail == 0 || (d[0] & 0xf8) == 0)
		return false;
	*type = d[0] & 7;
	tag = (uint32_t) (d[0] & 0x7f) >> 3;
	if ((d[0] & 0x80) == 0)
	{
		*number = tag;
		r->p += 1;
		return true;
	}
	for (size_t i = 1; i < max; i++)
	{
		if (d[i] & 0x80)
		{
			tag |= (uint32_t) (d[i] & 0x7f) << shift;
			shift += 7;
		}
		else
		{
			tag |= (uint32_t) d[i] << shift;
			*number = tag;
			r->p += i + 1;
			return true;
		}
	}
	return false;
}

bool
ray_wire_next(RayWireReader *r, RayWireField *f)
{
	int			type;

	if (r->error || r->p >= r->end)
		return false;
	if (!read_tag(r, &f->number, &type))
		goto bad;
	f->type = (RayWireType) type;
	f->data = NULL;
	f->len = 0;
	f->varint = 0;
	switch (type)
	{
		case RAY_WIRE_VARINT:
			if (!read_varint(r, &f->varint))
				goto bad;
			return true;
		case RAY_WIRE_FIXED64:
			if (r->end - r->p < 8)
				goto bad;
			for (int i = 7; i >= 0; i--)
				f->varint = (f->varint << 8) | r->p[i];
			r->p += 8;
			return true;
		case RAY_WIRE_FIXED32:
			if (r->end - r->p < 4)
				goto bad;
			for (int i = 3; i >= 0; i--)
				f->varint = (f->varint << 8) | r->p[i];
			r->p += 4;
			return true;
		case RAY_WIRE_LEN:
			{
				uint64_t	len;

				if (!read_varint(r, &len) || len > (uint64_t) (r->end - r->p))
					goto bad;
				f->data = r->p;
				f->len = (size_t) len;
				r->p += len;
				return true;
			}
		default:
			goto bad;
	}
bad:
	r->error = true;
	return false;
}
