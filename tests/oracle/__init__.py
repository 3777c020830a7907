"""Independent oracles the tests hold the production code and the SQL views against."""
