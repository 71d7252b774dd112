"""Full article text: fetch the pages that feed summaries link to, politely, and store the story.

`detect` (is it a summary? is the page the story?), `robots` (robots.txt per origin), `ratelimit`
(per-origin spacing and Retry-After), `extract` (trafilatura + htmldate + the one cleaner), and
`queue` (the durable queue on the articles table and the background service).
"""
