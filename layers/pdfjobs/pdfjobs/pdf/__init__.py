"""PDF access shared by the engines: opening documents safely and selecting pages."""
