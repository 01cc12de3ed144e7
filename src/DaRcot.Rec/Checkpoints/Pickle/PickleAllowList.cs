using System.Text.RegularExpressions;
using TorchSharp;

namespace DaRcot.Rec.Checkpoints.Pickle;

/// <summary>
/// The globals a PyTorch checkpoint may legitimately reference. Anything else (os.system, builtins.eval,
/// subprocess.Popen, numpy reconstructors, getattr, ...) is refused. Allowed classes are never instantiated:
/// module objects become inert records, so allowing a class only lets the file describe data, not run code.
/// </summary>
public static partial class PickleAllowList
{
    private static readonly Dictionary<string, int> Functions = new(StringComparer.Ordinal)
    {
        ["collections.OrderedDict"] = (int)GlobalKind.OrderedDict,
        ["builtins.set"] = (int)GlobalKind.Set,
        ["__builtin__.set"] = (int)GlobalKind.Set,
        ["builtins.frozenset"] = (int)GlobalKind.FrozenSet,
        ["__builtin__.frozenset"] = (int)GlobalKind.FrozenSet,
        ["builtins.object"] = (int)GlobalKind.Marker,
        ["__builtin__.object"] = (int)GlobalKind.Marker,
        ["copyreg._reconstructor"] = (int)GlobalKind.Reconstructor,
        ["copy_reg._reconstructor"] = (int)GlobalKind.Reconstructor,
        ["torch.Size"] = (int)GlobalKind.TorchSize,
        ["torch.device"] = (int)GlobalKind.TorchDevice,
        ["torch.Tensor"] = (int)GlobalKind.Marker,
        ["torch.nn.parameter.Parameter"] = (int)GlobalKind.Marker,
        ["torch._utils._rebuild_tensor_v2"] = (int)GlobalKind.RebuildTensorV2,
        ["torch._utils._rebuild_tensor"] = (int)GlobalKind.RebuildTensorV2,
        ["torch._utils._rebuild_parameter"] = (int)GlobalKind.RebuildParameter,
        ["torch._utils._rebuild_parameter_with_state"] = (int)GlobalKind.RebuildParameterWithState,
        ["torch._tensor._rebuild_from_type_v2"] = (int)GlobalKind.RebuildFromTypeV2,
    };

    /// <summary>Storage classes (as named in persistent ids) and the element type they hold.</summary>
    internal static readonly IReadOnlyDictionary<string, torch.ScalarType> StorageTypes = new Dictionary<string, torch.ScalarType>(StringComparer.Ordinal)
    {
        ["FloatStorage"] = torch.ScalarType.Float32,
        ["HalfStorage"] = torch.ScalarType.Float16,
        ["BFloat16Storage"] = torch.ScalarType.BFloat16,
        ["DoubleStorage"] = torch.ScalarType.Float64,
        ["LongStorage"] = torch.ScalarType.Int64,
        ["IntStorage"] = torch.ScalarType.Int32,
        ["ShortStorage"] = torch.ScalarType.Int16,
        ["CharStorage"] = torch.ScalarType.Int8,
        ["ByteStorage"] = torch.ScalarType.Byte,
        ["BoolStorage"] = torch.ScalarType.Bool,
        ["UntypedStorage"] = torch.ScalarType.Byte,
    };

    /// <summary>torch dtype objects (e.g. a module attribute holding torch.float32): referenced, never called.</summary>
    private static readonly HashSet<string> DTypes = new(StringComparer.Ordinal)
    {
        "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool",
    };

    /// <summary>The DA-RCOT classes (official repo, file <c>model_res.py</c>) that released checkpoints pickle whole.</summary>
    private static readonly HashSet<string> DaRcotClasses = new(StringComparer.Ordinal)
    {
        "MRCNet", "F_net", "OverlapPatchEmbed", "TransformerBlock", "LayerNorm", "WithBias_LayerNorm",
        "BiasFree_LayerNorm", "Attention", "FeedForward", "Downsample", "Upsample",
    };

    // Module paths of the DA-RCOT classes: the repo imports model_res; a script run directly pickles __main__.
    private static readonly HashSet<string> DaRcotModules = new(StringComparer.Ordinal) { "model_res", "__main__" };

    // Classes allowed at run time by the application (whole-module checkpoints of other repositories).
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> ExtraModuleClasses = new(StringComparer.Ordinal);

    /// <summary>
    /// Allows <c>module.name</c> as an nn.Module class in whole-module checkpoints (e.g. a network class of another
    /// repository). Safe by construction: allowed classes are only recorded, never instantiated or called, so this
    /// lets a file describe more module types but never lets it run code.
    /// </summary>
    public static void AddModuleClass(string module, string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(module);
        ArgumentException.ThrowIfNullOrEmpty(name);
        ExtraModuleClasses[$"{module}.{name}"] = 0;
    }

    [GeneratedRegex(@"^torch\.nn\.modules\.[a-z_]+$")]
    private static partial Regex TorchModulePath();

    [GeneratedRegex(@"^[A-Z][A-Za-z0-9_]*$")]
    private static partial Regex ClassName();

    /// <summary>
    /// A human-readable description of everything that is allowed, for documentation and error messages.
    /// </summary>
    public static IReadOnlyList<string> Describe() =>
        Functions.Keys.Order(StringComparer.Ordinal)
            .Concat(StorageTypes.Keys.Select(k => $"torch.{k}"))
            .Concat(new[] { "torch.storage.UntypedStorage", "torch.cuda.<X>Storage", "torch.<dtype>", "torch.nn.modules.<submodule>.<Class>" })
            .Concat(DaRcotClasses.Select(c => $"model_res.{c}"))
            .ToList();

    /// <summary>Whether <c>module.name</c> may appear in a checkpoint pickle.</summary>
    public static bool IsAllowed(string module, string name) => Resolve(module, name) is not null;

    internal static PickleGlobal? Resolve(string module, string name)
    {
        var full = $"{module}.{name}";
        if (Functions.TryGetValue(full, out var kind)) return new PickleGlobal(module, name, (GlobalKind)kind);
        if ((module == "torch" || module == "torch.cuda" || module == "torch.storage") && StorageTypes.ContainsKey(name))
            return new PickleGlobal(module, name, GlobalKind.StorageType);
        if (module == "torch" && DTypes.Contains(name)) return new PickleGlobal(module, name, GlobalKind.Marker);
        if (TorchModulePath().IsMatch(module) && ClassName().IsMatch(name)) return new PickleGlobal(module, name, GlobalKind.ModuleClass);
        if (DaRcotModules.Contains(module) && DaRcotClasses.Contains(name)) return new PickleGlobal(module, name, GlobalKind.ModuleClass);
        if (ExtraModuleClasses.ContainsKey(full)) return new PickleGlobal(module, name, GlobalKind.ModuleClass);
        return null;
    }
}
