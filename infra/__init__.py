"""The Pulumi program for one Frostbyte tenant on Hetzner Cloud (SPEC §4); see README.md."""
