"""The ground floor: settings, topic names, trace stamps and the record producer. Nothing here
imports any of our packages except ``schemas`` (the codec)."""
