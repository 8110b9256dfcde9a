"""Everything on disk or in a database: engine and sessions, repositories, migrations, the lake."""
