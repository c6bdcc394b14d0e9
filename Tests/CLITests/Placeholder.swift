// CLI tests.
