"""From records to numbers: fits, scaling tables, operator shares, run comparison.
Nothing here measures, plots or writes files."""
