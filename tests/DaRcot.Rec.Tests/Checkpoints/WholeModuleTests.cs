using DaRcot.Rec.Checkpoints;
using DaRcot.Rec.Checkpoints.Pickle;
using DaRcot.Rec.Errors;

namespace DaRcot.Rec.Tests.Checkpoints;

/// <summary>State dicts recovered from pickled nn.Module objects follow torch's state_dict() rules.</summary>
public sealed class WholeModuleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("darcot-module-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Dictionary<string, byte[]> Storages() => new()
    {
        ["0"] = PickleBytes.Floats(1, 2),
        ["1"] = PickleBytes.Floats(3),
        ["2"] = PickleBytes.Floats(4),
        ["3"] = PickleBytes.Floats(5, 6),
    };

    // {"model": Outer(weight=[1,2], bias=None, buffers: running=[3], tmp=[4] (non-persistent), children: inner, act)}
    // with inner = Inner(weight=[5,6]) and act a parameterless module.
    private static byte[] Pickle(string outerModule, string outerClass, bool cycle = false)
    {
        var p = new PickleBytes().Proto().EmptyDict().Str("model")
            .Module(outerModule, outerClass, memo: 1)
            .Str("training").Op(0x88).SetItem()
            .Str("_parameters").OrderedDict()
                .Str("weight").Tensor("FloatStorage", "0", 2, 0, new[] { 2 }, new[] { 1 }).SetItem()
                .Str("bias").None().SetItem()
            .SetItem()
            .Str("_buffers").OrderedDict()
                .Str("running").Tensor("FloatStorage", "1", 1, 0, new[] { 1 }, new[] { 1 }).SetItem()
                .Str("tmp").Tensor("FloatStorage", "2", 1, 0, new[] { 1 }, new[] { 1 }).SetItem()
            .SetItem()
            .Str("_non_persistent_buffers_set").Global("builtins", "set").EmptyList().Str("tmp").Append().Tuple1().Reduce().SetItem()
            .Str("_modules").OrderedDict()
                .Str("inner").Module("torch.nn.modules.linear", "Linear")
                    .Str("_parameters").OrderedDict().Str("weight").Tensor("FloatStorage", "3", 2, 0, new[] { 2 }, new[] { 1 }).SetItem().SetItem()
                    .Str("_buffers").OrderedDict().SetItem()
                    .Str("_modules").OrderedDict();
        if (cycle) p.Str("loop").Get(1).SetItem();
        p.SetItem().Build().SetItem()
                .Str("act").Module("torch.nn.modules.activation", "LeakyReLU")
                    .Str("_parameters").OrderedDict().SetItem()
                    .Str("_buffers").OrderedDict().SetItem()
                    .Str("_modules").OrderedDict().SetItem()
                    .Str("negative_slope").Op((byte)'G', 0x3f, 0xc9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a).SetItem()
                .Build().SetItem()
            .SetItem()
            .Build().SetItem().Stop();
        return p.ToArray();
    }

    [Fact]
    public void Module_state_dict_skips_None_parameters_and_non_persistent_buffers_and_prefixes_children()
    {
        var path = Path.Combine(_dir, "whole.pth");
        PickleBytes.WriteZip(path, Pickle("torch.nn.modules.container", "Sequential"), Storages());
        var sd = CheckpointReader.ReadStateDict(path); // "model" is one of the default container keys
        try
        {
            Assert.Equal(new[] { "weight", "running", "inner.weight" }, sd.Keys);
            Assert.Equal(new float[] { 1, 2 }, sd["weight"].data<float>().ToArray());
            Assert.Equal(new float[] { 3 }, sd["running"].data<float>().ToArray());
            Assert.Equal(new float[] { 5, 6 }, sd["inner.weight"].data<float>().ToArray());
        }
        finally
        {
            TensorSets.DisposeAll(sd.Values);
        }
        var info = CheckpointReader.Inspect(path);
        var c = Assert.Single(info.Containers);
        Assert.Equal("torch.nn.modules.container.Sequential", c.ModuleClass);
        Assert.Equal(5, c.ParameterCount);
    }

    [Fact]
    public void Cyclic_module_tree_gives_a_typed_error()
    {
        var path = Path.Combine(_dir, "cycle.pth");
        PickleBytes.WriteZip(path, Pickle("torch.nn.modules.container", "Sequential", cycle: true), Storages());
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Contains("deeper than 256", e.Message);
    }

    [Fact]
    public void Unknown_module_classes_are_refused_until_the_application_allows_them()
    {
        var path = Path.Combine(_dir, "custom.pth");
        PickleBytes.WriteZip(path, Pickle("wholemodule_test_lib", "MyNet"), Storages());
        var e = Assert.Throws<UnsafePickleException>(() => CheckpointReader.ReadStateDict(path));
        Assert.Equal("wholemodule_test_lib.MyNet", e.Global);

        PickleAllowList.AddModuleClass("wholemodule_test_lib", "MyNet");
        var sd = CheckpointReader.ReadStateDict(path, "model");
        Assert.Equal(3, sd.Count);
        TensorSets.DisposeAll(sd.Values);
    }
}
