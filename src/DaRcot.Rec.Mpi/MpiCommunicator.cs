using System.Globalization;
using System.Reflection;
using System.Runtime.InteropServices;
using DaRcot.Rec.Training.Distributed;
using MpiUnsafe = MPI.Unsafe;

namespace DaRcot.Rec.Mpi;

/// <summary>
/// <see cref="IDataParallelCommunicator"/> over MPI, through the MPI.NET binding (NuGet <c>MPI.NET</c> 1.4.0) and
/// MPICH (Debian's <c>mpich</c> package, installed by <c>eng/ensure-mpi.sh</c>). Start the processes with
/// <c>mpiexec.mpich -n N ...</c>; one communicator per process, disposed at its end (MPI_Finalize).
/// </summary>
/// <remarks>
/// <para>Why MPICH and not Open MPI: the NuGet build of MPI.NET is compiled for MS-MPI (<c>msmpi.dll</c>), whose
/// handles are MPICH's integer constants (MPI_COMM_WORLD = 0x44000000, MPI_FLOAT = 0x4c00040a, ...). MPICH and its
/// ABI-compatible derivatives (Intel MPI, ...) accept those handles; Open MPI's handles are addresses of its own
/// symbols, so the same calls crash there (tried: a segmentation fault in MPI_Init's first use of MPI_COMM_WORLD).
/// The library name <c>msmpi.dll</c> is mapped to <c>libmpich.so.12</c> on Linux (override with
/// <c>DARCOT_MPI_LIBRARY</c>).</para>
/// <para>Collectives work on float32 (MPI_FLOAT) or float64 (MPI_DOUBLE) buffers with MPI_SUM; every call is checked for MPI_SUCCESS.</para>
/// </remarks>
public sealed class MpiCommunicator : IDataParallelCommunicator, IDisposable
{
    /// <summary>Environment variable naming the MPI shared library to load instead of <c>libmpich.so.12</c>.</summary>
    public const string LibraryVariable = "DARCOT_MPI_LIBRARY";

    private static readonly string[] Candidates = ["libmpich.so.12", "libmpi.so.12"];
    private static int resolverSet;
    private readonly MPI.Environment environment;
    private readonly MPI.Intracommunicator world;
    private float[] scratch = [];
    private double[] wideScratch = [];
    private bool disposed;

    /// <summary>Initialises MPI (MPI_Init_thread, serialized: any thread may call, one at a time).</summary>
    /// <exception cref="NotSupportedException">The process was started by Open MPI's mpirun.</exception>
    /// <exception cref="DllNotFoundException">No MPICH-compatible library can be loaded.</exception>
    public MpiCommunicator()
    {
        if (System.Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null)
            throw new NotSupportedException("this process was started by Open MPI's mpirun, but MPI.NET's NuGet build speaks MPICH's ABI: start it with mpiexec.mpich (eng/ensure-mpi.sh installs MPICH).");
        if (Interlocked.Exchange(ref resolverSet, 1) == 0)
            NativeLibrary.SetDllImportResolver(typeof(MPI.Communicator).Assembly, Resolve);
        var args = Array.Empty<string>();
        environment = new MPI.Environment(ref args, MPI.Threading.Serialized);
        world = MPI.Communicator.world;
        Rank = world.Rank;
        Size = world.Size;
    }

    /// <summary>The world size announced by an MPICH (Hydra) or PMI launcher to this process, or null when it was not
    /// started by one. Read from <c>PMI_SIZE</c> without initialising MPI.</summary>
    public static int? LauncherSize =>
        int.TryParse(System.Environment.GetEnvironmentVariable("PMI_SIZE"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : null;

    /// <summary>True when Open MPI's mpirun started this process (which this binding cannot use).</summary>
    public static bool StartedByOpenMpi => System.Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE") is not null;

    /// <inheritdoc/>
    public int Rank { get; }

    /// <inheritdoc/>
    public int Size { get; }

    /// <inheritdoc/>
    public unsafe void AllReduceSum(float[] buffer, int count)
    {
        Check(buffer, count);
        if (count == 0) return;
        if (scratch.Length < count) scratch = new float[count];
        fixed (float* send = buffer)
        fixed (float* receive = scratch)
        {
            Ok(MpiUnsafe.MPI_Allreduce((IntPtr)send, (IntPtr)receive, count, MpiUnsafe.MPI_FLOAT, MpiUnsafe.MPI_SUM, MpiUnsafe.MPI_COMM_WORLD), "MPI_Allreduce");
        }
        Array.Copy(scratch, buffer, count);
    }

    /// <inheritdoc/>
    public unsafe void AllReduceSum(double[] buffer, int count)
    {
        Check(buffer, count);
        if (count == 0) return;
        if (wideScratch.Length < count) wideScratch = new double[count];
        fixed (double* send = buffer)
        fixed (double* receive = wideScratch)
        {
            Ok(MpiUnsafe.MPI_Allreduce((IntPtr)send, (IntPtr)receive, count, MpiUnsafe.MPI_DOUBLE, MpiUnsafe.MPI_SUM, MpiUnsafe.MPI_COMM_WORLD), "MPI_Allreduce");
        }
        Array.Copy(wideScratch, buffer, count);
    }

    /// <inheritdoc/>
    public unsafe void Broadcast(double[] buffer, int count, int root)
    {
        Check(buffer, count);
        if (root < 0 || root >= Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"must be within 0..{Size - 1}.");
        if (count == 0) return;
        fixed (double* data = buffer)
        {
            Ok(MpiUnsafe.MPI_Bcast((IntPtr)data, count, MpiUnsafe.MPI_DOUBLE, root, MpiUnsafe.MPI_COMM_WORLD), "MPI_Bcast");
        }
    }

    /// <inheritdoc/>
    public unsafe void Broadcast(float[] buffer, int count, int root)
    {
        Check(buffer, count);
        if (root < 0 || root >= Size) throw new ArgumentOutOfRangeException(nameof(root), root, $"must be within 0..{Size - 1}.");
        if (count == 0) return;
        fixed (float* data = buffer)
        {
            Ok(MpiUnsafe.MPI_Bcast((IntPtr)data, count, MpiUnsafe.MPI_FLOAT, root, MpiUnsafe.MPI_COMM_WORLD), "MPI_Bcast");
        }
    }

    /// <inheritdoc/>
    public void Barrier() => world.Barrier();

    /// <inheritdoc/>
    public void Abort(int errorCode) => world.Abort(errorCode);

    /// <summary>Finalises MPI (MPI_Finalize); every rank must reach it.</summary>
    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        environment.Dispose();
    }

    private static void Check<T>(T[] buffer, int count)
    {
        ArgumentNullException.ThrowIfNull(buffer);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, buffer.Length);
    }

    private static void Ok(int code, string call)
    {
        if (code != MpiUnsafe.MPI_SUCCESS) throw new InvalidOperationException($"{call} failed with MPI error code {code}.");
    }

    // MPI.NET imports "msmpi.dll"; on Linux that is an MPICH-ABI library.
    private static IntPtr Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!name.StartsWith("msmpi", StringComparison.OrdinalIgnoreCase) || OperatingSystem.IsWindows()) return IntPtr.Zero;
        var chosen = System.Environment.GetEnvironmentVariable(LibraryVariable);
        foreach (var candidate in chosen is { Length: > 0 } ? [chosen] : Candidates)
            if (NativeLibrary.TryLoad(candidate, out var handle)) return handle;
        throw new DllNotFoundException($"No MPICH-compatible MPI library found (tried {string.Join(", ", chosen is { Length: > 0 } ? [chosen] : Candidates)}); run eng/ensure-mpi.sh (installs Debian's mpich) or set {LibraryVariable}.");
    }
}
