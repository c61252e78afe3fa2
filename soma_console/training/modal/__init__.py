"""Training on Modal: the apps deployed there, the code their containers run, and this machine's side.

* ``names``: the app, Volume, function and GPU names (one place);
* ``app``: the apps (imports ``modal``; the only module here that does at import time);
* ``container``: what the containers run (worker supervision, Volume commits and reloads);
* ``client``: settings, the credentials check, every call under its own timeout;
* ``backend``: a run on Modal seen from here (records, state, events, stop, checkpoints);
* ``launch``: deploying the training app and launching a run;
* ``logs``: the resumable log follower; ``volume``: checkpoints on the Volume, downloads;
* ``spec``: the spec keys used and the Volume layout; ``cron``: the scheduled app.

Nothing here is imported by ``soma_console.training``'s other modules at import time except
through functions, so ``modal`` stays out of commands that do not use it.
"""
