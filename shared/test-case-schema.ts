import { z } from 'zod';

/** One step of a manual test case. */
export const testStepSchema = z.object({
  action: z.string().trim().min(1).max(5000),
  expected: z.string().trim().max(5000).optional().nullable(),
});

const requirementSchema = z.string().trim().min(1).max(500);
const tagSchema = z.string().trim().min(1).max(100);

/** Fields of a test case a person or a tool may set. */
export const testCaseFieldsSchema = z.object({
  title: z.string().trim().min(1).max(500),
  suite: z.string().trim().max(500).nullable().optional(),
  component: z.string().trim().max(200).nullable().optional(),
  tags: z.array(tagSchema).max(50).optional(),
  priority: z.string().trim().max(50).nullable().optional(),
  kind: z.enum(['manual', 'automated']).optional(),
  steps: z.array(testStepSchema).max(200).optional(),
  expectedResult: z.string().trim().max(10_000).nullable().optional(),
  /** Requirement or user-story references: tracker keys like SHOP-12, or URLs. */
  requirements: z.array(requirementSchema).max(100).optional(),
});

/** `POST /projects/:id/test-cases`: a key may be given (e.g. C123 from TestRail), else TC-n is assigned. */
export const newTestCaseSchema = testCaseFieldsSchema.extend({
  key: z
    .string()
    .trim()
    .regex(/^[A-Za-z][A-Za-z0-9_.-]{0,49}$/, 'a key is letters, digits, "-", "_" or ".", starting with a letter')
    .optional(),
});

/** `PATCH /projects/:id/test-cases/:caseId`: any subset of the fields. */
export const testCaseChangesSchema = testCaseFieldsSchema.partial();

export type TestStep = z.infer<typeof testStepSchema>;
export type NewTestCase = z.infer<typeof newTestCaseSchema>;
export type TestCaseChanges = z.infer<typeof testCaseChangesSchema>;

/** Kinds of link between a defect and a test case. */
export const defectTestLinkKinds = ['covers', 'failed_in', 'regression_test_added'] as const;
export type DefectTestLinkKind = (typeof defectTestLinkKinds)[number];

export const newDefectTestLinkSchema = z.object({
  testCaseId: z.string().uuid(),
  kind: z.enum(defectTestLinkKinds),
  /** For failed_in: the test result (id) the defect showed up in. */
  testResultId: z.union([z.string().regex(/^\d+$/), z.number().int().positive()]).optional().nullable(),
});
