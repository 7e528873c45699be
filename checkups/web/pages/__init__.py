"""The staff pages, one module per job: signing in, the volunteers' queue, enrolment, the leads' protocols
and dashboard, and the admins' audit trail."""
