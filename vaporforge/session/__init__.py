"""One package for the session: its states table (:mod:`.states`), the
lifecycle that alone moves a session (:mod:`.lifecycle`, :mod:`.owning`,
:mod:`.moves`), and the store whose Lua steps (``lua/*.lua``, one file each)
it calls (:mod:`.store`, :mod:`.warm`, :mod:`.scripts`, :mod:`.record`)."""
