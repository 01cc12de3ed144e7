using System.Runtime.InteropServices;
using TorchSharp;

namespace DaRcot.Rec.Runtime;

/// <summary>
/// libtorch's process-wide <c>at::Context</c> switches that TorchSharp 0.107 does not expose: whether oneDNN (MKLDNN)
/// and NNPACK may be used. They are C++ member functions exported by <c>libtorch_cpu</c> under their Itanium-ABI
/// mangled names, so they are reachable on Linux and macOS only; elsewhere <see cref="IsAvailable"/> is false and the
/// switches report themselves as unknown.
/// </summary>
internal static class LibTorchContext
{
    private const string GlobalContext = "_ZN2at13globalContextEv";
    private const string SetMkldnn = "_ZN2at7Context20setUserEnabledMkldnnEb";
    private const string GetMkldnn = "_ZNK2at7Context17userEnabledMkldnnEv";
    private const string SetNnpack = "_ZN2at7Context20setUserEnabledNNPACKEb";
    private const string GetNnpack = "_ZNK2at7Context17userEnabledNNPACKEv";

    // `this` is the first integer argument of a member function in the Itanium C++ ABI; C++ bool is one byte.
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate IntPtr GetContextFn();

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate void SetFlagFn(IntPtr context, byte value);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate byte GetFlagFn(IntPtr context);

    private sealed record Exports(IntPtr Context, SetFlagFn SetMkldnn, GetFlagFn GetMkldnn, SetFlagFn SetNnpack, GetFlagFn GetNnpack);

    private static readonly Lazy<(Exports? Exports, string? Problem)> Resolved = new(Resolve);

    /// <summary>True when the switches could be resolved in the loaded libtorch.</summary>
    public static bool IsAvailable => Resolved.Value.Exports is not null;

    /// <summary>Why the switches are unavailable (null when they are available).</summary>
    public static string? Problem => Resolved.Value.Problem;

    /// <summary>libtorch's "user enabled MKLDNN" flag (oneDNN kernels for convolutions and friends), or null when unknown.</summary>
    public static bool? OneDnnEnabled
    {
        get => Resolved.Value.Exports is { } e ? e.GetMkldnn(e.Context) != 0 : null;
        set
        {
            if (Resolved.Value.Exports is { } e && value is bool on) e.SetMkldnn(e.Context, on ? (byte)1 : (byte)0);
        }
    }

    /// <summary>libtorch's "user enabled NNPACK" flag, or null when unknown.</summary>
    public static bool? NnpackEnabled
    {
        get => Resolved.Value.Exports is { } e ? e.GetNnpack(e.Context) != 0 : null;
        set
        {
            if (Resolved.Value.Exports is { } e && value is bool on) e.SetNnpack(e.Context, on ? (byte)1 : (byte)0);
        }
    }

    private static (Exports?, string?) Resolve()
    {
        if (OperatingSystem.IsWindows()) return (null, "the libtorch context switches use Itanium C++ name mangling, which Windows builds of libtorch do not export");
        // Loading TorchSharp's native library first makes libtorch_cpu part of the process; opening it again by name
        // then returns that same, already loaded, library.
        _ = torch.get_num_threads();
        var name = OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so";
        if (!NativeLibrary.TryLoad(name, typeof(torch).Assembly, null, out var handle) && !NativeLibrary.TryLoad(name, out handle))
            return (null, $"{name} could not be opened");
        try
        {
            T Fn<T>(string symbol) where T : Delegate =>
                Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(handle, symbol));
            var context = Fn<GetContextFn>(GlobalContext)();
            if (context == IntPtr.Zero) return (null, "at::globalContext() returned null");
            return (new Exports(context, Fn<SetFlagFn>(SetMkldnn), Fn<GetFlagFn>(GetMkldnn), Fn<SetFlagFn>(SetNnpack), Fn<GetFlagFn>(GetNnpack)), null);
        }
        catch (EntryPointNotFoundException e)
        {
            return (null, $"{name} does not export an expected at::Context member ({e.Message})");
        }
    }
}
