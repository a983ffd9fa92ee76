"""Independent oracle for the pooling model of shared/contract/problem-v1.md.

Written from the contract alone, without reading solver/, so that it can catch the
solver's mistakes rather than repeat them.
"""
