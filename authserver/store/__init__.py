"""Storage: the database handle and unit of work, the tables, and one module per aggregate that owns
its SQL (and chooses its SQLite or PostgreSQL statement itself). Nothing above this package writes SQL
or asks which database it runs on."""
