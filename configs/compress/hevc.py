# HEVC through PyAV, rate-matched to the bpp an INR codec reached at the same size.
_base_ = ['./_base_/runtime.py']
codec = dict(type='hevc', preset='medium', gop=None, pix_fmt='yuv420p')
match_bpp_of = ['dnerv', 'nerv', 'ffnerv']   # first that exists; else the nominal bpp
