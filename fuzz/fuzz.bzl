"""pp_fuzz_target: one libFuzzer target and the test that replays its seeds."""

load("@rules_cc//cc:defs.bzl", "cc_binary", "cc_test")
load("//:copts.bzl", "PP_COPTS")

def pp_fuzz_target(name, corpus, deps):
    """Declares <name> (the fuzzer) and <name>_replay (a plain test).

    Args:
      name: the target; its source is <name>.c.
      corpus: the seed directory under corpus/.
      deps: the libraries under test.
    """

    # Replays every seed through the target; any compiler, no libFuzzer.
    cc_test(
        name = name + "_replay",
        size = "small",
        srcs = [name + ".c", "replay_main.c"],
        args = ["fuzz/corpus/" + corpus],
        copts = PP_COPTS,
        data = native.glob(["corpus/%s/**" % corpus]),
        deps = [":fuzz_check"] + deps,
    )

    # bazel build --config=fuzz //fuzz:<name> links libFuzzer's main.
    # Without the config it links the replay main instead, so it still
    # builds and runs a corpus; "manual" keeps it out of //... anyway.
    cc_binary(
        name = name,
        srcs = [name + ".c"] + select({
            ":fuzzing": [],
            "//conditions:default": ["replay_main.c"],
        }),
        copts = PP_COPTS,
        linkopts = select({
            ":fuzzing": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        tags = ["manual"],
        testonly = True,
        deps = [":fuzz_check"] + deps,
    )
