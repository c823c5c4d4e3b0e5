using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LZN.Native.Backends.Cpu;

/// <summary>
/// A matrix read through strides: element (row, col) is at Array[Offset + row * RowStride + col * ColStride];
/// (lda, 1) for a row-major operand, (1, lda) for a transposed one.
/// </summary>
internal readonly record struct StridedMatrix(float[] Array, int Offset, int RowStride, int ColStride);

/// <summary>
/// The GEMM used when OpenBLAS is missing (or forced): C += alpha * op(A) * op(B), Goto/BLIS style.
/// B is packed per [Kc, Nc] block into Nr-wide column panels, A per [Mc, Kc] block into Mr-tall row
/// panels (zero-padded, so the micro-kernel never branches); an Mr x Nr register tile accumulates
/// with Vector512 (Nr = 32) or Vector256 (Nr = 16) FMAs, and edge tiles go through a scratch tile.
/// The (row block x column range) tasks of each packed B block run under Parallel.For.
/// </summary>
internal static unsafe class ManagedGemm
{
    private const int Mr = 6;

    /// <summary>Depth of one packed block: an Mr x Kc A panel plus a Kc x Nr B panel stay in L1/L2.</summary>
    private const int Kc = 256;

    /// <summary>Rows per packed A block (a multiple of Mr): Mc x Kc floats = 96 KiB, resident in L2.</summary>
    private const int Mc = 96;

    /// <summary>Columns per packed B block: Kc x Nc floats = 4 MiB, shared by all tasks through L3.</summary>
    private const int Nc = 4096;

    /// <summary>Multiply-adds below which threading costs more than it saves.</summary>
    private const long ParallelVolume = 1L << 18;

    private static readonly bool Wide = Vector512.IsHardwareAccelerated;

    private const int MaxNr = 32;

    private static readonly int Nr = Wide ? MaxNr : 16;

    /// <summary>The vector width the micro-kernel runs on, for descriptions.</summary>
    public static string InstructionSet => Wide ? "Vector512" : Vector256.IsHardwareAccelerated ? "Vector256" : "Vector256 (emulated)";

    /// <summary>C[m, n] (row stride ldc, from cOffset) += alpha * op(A)[m, k] * op(B)[k, n].</summary>
    public static void MultiplyAdd(int m, int n, int k, float alpha, StridedMatrix a, StridedMatrix b,
        float[] c, int cOffset, int ldc, bool allowParallel)
    {
        int nr = Nr;
        bool parallel = allowParallel && Environment.ProcessorCount > 1 && (long)m * n * k >= ParallelVolume;
        int maxPanels = CeilDiv(Math.Min(n, Nc), nr);
        // [maxPanels][Kc][nr], 64-byte aligned for whole-cache-line vector loads.
        float* packedB = (float*)NativeMemory.AlignedAlloc((nuint)((long)Kc * maxPanels * nr * sizeof(float)), 64);
        try
        {
            for (int jc = 0; jc < n; jc += Nc)
            {
                int nc = Math.Min(Nc, n - jc);
                int panels = CeilDiv(nc, nr);
                for (int pc = 0; pc < k; pc += Kc)
                {
                    int kc = Math.Min(Kc, k - pc);
                    PackB(b, pc, kc, jc, nc, nr, packedB);
                    var block = new Block(a, c, cOffset, ldc, m, nc, jc, pc, kc, alpha, (IntPtr)packedB);
                    int rowBlocks = CeilDiv(m, Mc);
                    // Split columns too, so a short-and-wide C still yields a few tasks per core.
                    int columnSplits = parallel ? Math.Clamp(CeilDiv(4 * Environment.ProcessorCount, rowBlocks), 1, panels) : 1;
                    int panelsPerTask = CeilDiv(panels, columnSplits);
                    columnSplits = CeilDiv(panels, panelsPerTask);
                    int tasks = rowBlocks * columnSplits;
                    if (!parallel || tasks == 1)
                    {
                        IntPtr scratch = AllocatePackedA();
                        try
                        {
                            for (int task = 0; task < tasks; task++)
                                RunTask(block, task / columnSplits, task % columnSplits, panelsPerTask, panels, scratch);
                        }
                        finally
                        {
                            NativeMemory.AlignedFree((void*)scratch);
                        }
                        continue;
                    }
                    Parallel.For(0, tasks, AllocatePackedA,
                        (task, _, scratch) =>
                        {
                            RunTask(block, task / columnSplits, task % columnSplits, panelsPerTask, panels, scratch);
                            return scratch;
                        },
                        scratch => NativeMemory.AlignedFree((void*)scratch));
                }
            }
        }
        finally
        {
            NativeMemory.AlignedFree(packedB);
        }
    }

    /// <summary>One packed B block and where its products land.</summary>
    private readonly record struct Block(StridedMatrix A, float[] C, int COffset, int Ldc, int M, int Nc, int Jc, int Pc, int Kc,
        float Alpha, IntPtr PackedB);

    /// <summary>One task's packed A block: [Mc / Mr][Kc][Mr].</summary>
    private static IntPtr AllocatePackedA() => (IntPtr)NativeMemory.AlignedAlloc((nuint)(Mc * Kc * sizeof(float)), 64);

    private static int CeilDiv(int value, int divisor) => (value + divisor - 1) / divisor;

    /// <summary>Rows [ic, ic + Mc) of C against B panels [firstPanel, lastPanel) of the block.</summary>
    private static void RunTask(in Block block, int rowBlock, int columnSplit, int panelsPerTask, int panels, IntPtr scratch)
    {
        int nr = Nr;
        int ic = rowBlock * Mc;
        int mc = Math.Min(Mc, block.M - ic);
        int firstPanel = columnSplit * panelsPerTask;
        int lastPanel = Math.Min(panels, firstPanel + panelsPerTask);
        float* packedA = (float*)scratch;
        float* packedB = (float*)block.PackedB;
        PackA(block.A, ic, mc, block.Pc, block.Kc, packedA);
        float* tile = stackalloc float[Mr * MaxNr]; // [Mr, nr] edge-tile scratch
        fixed (float* cArray = block.C)
        {
            for (int panel = firstPanel; panel < lastPanel; panel++)
            {
                int column = panel * nr;
                int columns = Math.Min(nr, block.Nc - column);
                float* bPanel = packedB + (long)panel * block.Kc * nr;
                for (int ir = 0; ir < mc; ir += Mr)
                {
                    int rows = Math.Min(Mr, mc - ir);
                    float* aPanel = packedA + ir * block.Kc;
                    float* cTile = cArray + block.COffset + (long)(ic + ir) * block.Ldc + block.Jc + column;
                    if (rows == Mr && columns == nr)
                    {
                        MicroKernel(block.Kc, aPanel, bPanel, cTile, block.Ldc, block.Alpha);
                        continue;
                    }
                    // Edge tile: compute the full padded tile into scratch, add back only the valid part.
                    new Span<float>(tile, Mr * nr).Clear();
                    MicroKernel(block.Kc, aPanel, bPanel, tile, nr, block.Alpha);
                    for (int r = 0; r < rows; r++)
                    {
                        for (int col = 0; col < columns; col++)
                            cTile[(long)r * block.Ldc + col] += tile[r * nr + col];
                    }
                }
            }
        }
    }

    /// <summary>op(A)[ic.., pc..] as Mr-row panels, each [kc][Mr]; rows past m are zero.</summary>
    private static void PackA(StridedMatrix a, int ic, int mc, int pc, int kc, float* packed)
    {
        for (int ir = 0; ir < mc; ir += Mr)
        {
            int rows = Math.Min(Mr, mc - ir);
            float* panel = packed + ir * kc;
            if (rows < Mr)
                new Span<float>(panel, kc * Mr).Clear();
            if (a.ColStride == 1)
            {
                // Row-major A: each row's kc values are contiguous; scatter them down the panel.
                for (int r = 0; r < rows; r++)
                {
                    var source = a.Array.AsSpan(a.Offset + (ic + ir + r) * a.RowStride + pc, kc);
                    for (int p = 0; p < kc; p++)
                        panel[p * Mr + r] = source[p];
                }
                continue;
            }
            // Transposed A (RowStride 1): the panel's Mr values at each depth are contiguous in memory.
            for (int p = 0; p < kc; p++)
                a.Array.AsSpan(a.Offset + (pc + p) * a.ColStride + ic + ir, rows).CopyTo(new Span<float>(panel + p * Mr, rows));
        }
    }

    /// <summary>op(B)[pc.., jc..] as nr-column panels, each [kc][nr]; columns past n are zero.</summary>
    private static void PackB(StridedMatrix b, int pc, int kc, int jc, int nc, int nr, float* packed)
    {
        for (int column = 0; column < nc; column += nr)
        {
            int columns = Math.Min(nr, nc - column);
            float* panel = packed + (long)(column / nr) * kc * nr;
            if (columns < nr)
                new Span<float>(panel, kc * nr).Clear();
            if (b.ColStride == 1)
            {
                // Row-major B: each depth's nr values are contiguous.
                for (int p = 0; p < kc; p++)
                    b.Array.AsSpan(b.Offset + (pc + p) * b.RowStride + jc + column, columns).CopyTo(new Span<float>(panel + p * nr, columns));
                continue;
            }
            // Transposed B (RowStride 1): each column's kc values are contiguous; scatter them across the panel.
            for (int col = 0; col < columns; col++)
            {
                var source = b.Array.AsSpan(b.Offset + (jc + column + col) * b.ColStride + pc, kc);
                for (int p = 0; p < kc; p++)
                    panel[p * nr + col] = source[p];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MicroKernel(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        if (Wide)
            Kernel512(kc, a, b, c, ldc, alpha);
        else
            Kernel256(kc, a, b, c, ldc, alpha);
    }

    /// <summary>C[6, 32] += alpha * A[6, kc] * B[kc, 32] from packed panels: 12 zmm accumulators.</summary>
    private static void Kernel512(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var av = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(av, b0, c00);
            c01 = Vector512.FusedMultiplyAdd(av, b1, c01);
            av = Vector512.Create(a[1]);
            c10 = Vector512.FusedMultiplyAdd(av, b0, c10);
            c11 = Vector512.FusedMultiplyAdd(av, b1, c11);
            av = Vector512.Create(a[2]);
            c20 = Vector512.FusedMultiplyAdd(av, b0, c20);
            c21 = Vector512.FusedMultiplyAdd(av, b1, c21);
            av = Vector512.Create(a[3]);
            c30 = Vector512.FusedMultiplyAdd(av, b0, c30);
            c31 = Vector512.FusedMultiplyAdd(av, b1, c31);
            av = Vector512.Create(a[4]);
            c40 = Vector512.FusedMultiplyAdd(av, b0, c40);
            c41 = Vector512.FusedMultiplyAdd(av, b1, c41);
            av = Vector512.Create(a[5]);
            c50 = Vector512.FusedMultiplyAdd(av, b0, c50);
            c51 = Vector512.FusedMultiplyAdd(av, b1, c51);
            a += Mr;
            b += 32;
        }
        var scale = Vector512.Create(alpha);
        Store512(c, scale, c00, c01);
        Store512(c + ldc, scale, c10, c11);
        Store512(c + 2L * ldc, scale, c20, c21);
        Store512(c + 3L * ldc, scale, c30, c31);
        Store512(c + 4L * ldc, scale, c40, c41);
        Store512(c + 5L * ldc, scale, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* row, Vector512<float> alpha, Vector512<float> left, Vector512<float> right)
    {
        Vector512.FusedMultiplyAdd(alpha, left, Vector512.Load(row)).Store(row);
        Vector512.FusedMultiplyAdd(alpha, right, Vector512.Load(row + 16)).Store(row + 16);
    }

    /// <summary>C[6, 16] += alpha * A[6, kc] * B[kc, 16] from packed panels: 12 ymm accumulators (fits AVX2's 16 registers).</summary>
    private static void Kernel256(int kc, float* a, float* b, float* c, int ldc, float alpha)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var av = Vector256.Create(a[0]);
            c00 = Vector256.FusedMultiplyAdd(av, b0, c00);
            c01 = Vector256.FusedMultiplyAdd(av, b1, c01);
            av = Vector256.Create(a[1]);
            c10 = Vector256.FusedMultiplyAdd(av, b0, c10);
            c11 = Vector256.FusedMultiplyAdd(av, b1, c11);
            av = Vector256.Create(a[2]);
            c20 = Vector256.FusedMultiplyAdd(av, b0, c20);
            c21 = Vector256.FusedMultiplyAdd(av, b1, c21);
            av = Vector256.Create(a[3]);
            c30 = Vector256.FusedMultiplyAdd(av, b0, c30);
            c31 = Vector256.FusedMultiplyAdd(av, b1, c31);
            av = Vector256.Create(a[4]);
            c40 = Vector256.FusedMultiplyAdd(av, b0, c40);
            c41 = Vector256.FusedMultiplyAdd(av, b1, c41);
            av = Vector256.Create(a[5]);
            c50 = Vector256.FusedMultiplyAdd(av, b0, c50);
            c51 = Vector256.FusedMultiplyAdd(av, b1, c51);
            a += Mr;
            b += 16;
        }
        var scale = Vector256.Create(alpha);
        Store256(c, scale, c00, c01);
        Store256(c + ldc, scale, c10, c11);
        Store256(c + 2L * ldc, scale, c20, c21);
        Store256(c + 3L * ldc, scale, c30, c31);
        Store256(c + 4L * ldc, scale, c40, c41);
        Store256(c + 5L * ldc, scale, c50, c51);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* row, Vector256<float> alpha, Vector256<float> left, Vector256<float> right)
    {
        Vector256.FusedMultiplyAdd(alpha, left, Vector256.Load(row)).Store(row);
        Vector256.FusedMultiplyAdd(alpha, right, Vector256.Load(row + 8)).Store(row + 8);
    }
}
