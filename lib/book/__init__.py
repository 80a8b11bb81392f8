"""Pipeline stage 6, the book: parameters and profiles, charts, provenance, the chapter runner, the CLI."""
from lib.book import charts
from lib.book.build import ChapterError, build_book, chapter_parameters, chapters, run_chapter
from lib.book.parameters import check_parameters, load_profile, profile_names, seed_everything
from lib.book.provenance import describe_environment

__all__ = ["ChapterError", "build_book", "chapter_parameters", "chapters", "charts", "check_parameters",
           "describe_environment", "load_profile", "profile_names", "run_chapter", "seed_everything"]
