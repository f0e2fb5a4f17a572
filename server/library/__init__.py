"""The study library: learners' and mentors' documents, their chunks and the search over them."""
