"""The radio: an endless lo-fi stream that follows a state a listener or a game can change at any time.

A producer process (``lofi.radio.producer``) composes and renders pieces ahead with the model; the
station (``lofi.radio.station``) mixes them live, layer by layer (``lofi.radio.mixer``), joins them with
equal-power crossfades or switches on a phrase boundary when the state asks for new music, and feeds one
MP3 encoder that every listener shares (``lofi.radio.stream``) and, when asked, an RTMP push with a
video (``lofi.radio.rtmp``). ``lofi.radio.state`` holds what can be asked for and the drift rule;
``lofi.radio.osc`` takes the state over OSC.
"""
